"""`python -m crmsync` runs the command line."""

from crmsync.cli.main import app

app()
