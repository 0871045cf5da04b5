"""Read-side queries over the state store for operators, one read model a module."""
