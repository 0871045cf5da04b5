"""Vendor connectors behind one small Protocol (`crmsync.connectors.base`), with the shared HTTP path."""
