"""The `crmsync` command line: typer commands that render what the library does."""
