"""The sync engine: reconcile (merge, policy), matching, cursors, delivery, runs and scheduling."""
