"""The long-running service: webhook receivers, the sync scheduler, health and metrics (`crmsync serve`)."""

from crmsync.service.app import SyncService

__all__ = ["SyncService"]
