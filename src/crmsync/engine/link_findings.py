"""`crmsync check`'s word on links to a kind `objects:` does not sync: crmsync drops them without waiting.

A contact's company link, say, needs the company's identity in each CRM; with companies left out of `objects:`
the link cannot be written anywhere, and a sync says nothing about it.
"""

from __future__ import annotations

from crmsync.config.values import SyncConfig
from crmsync.engine.schema_findings import Finding
from crmsync.engine.state import LINK_ROLES, parent_kind

_PLURAL = {"company": "companies", "contact": "contacts", "deal": "deals", "activity": "activities"}


def unsynced_parents(config: SyncConfig) -> list[Finding]:
    """One `info` finding per connection and synced kind whose parents of a role are of a kind not synced."""
    findings: list[Finding] = []
    for kind in config.kinds:
        for role in LINK_ROLES[kind]:
            parent = parent_kind(role)
            if parent in config.kinds:
                continue
            for name in config.object(kind).connections:
                vendor = config.connection(name).vendor
                findings.append(
                    Finding(
                        "info",
                        name,
                        config.mappings.get(vendor, kind).object,
                        f"@{role}",
                        f"{_PLURAL[kind]}' links to their {role} are not synced: `objects:` does not sync {parent}",
                        f"add `{parent}: {{}}` under objects to sync {_PLURAL[parent]} and these links",
                    )
                )
    return findings


__all__ = ["unsynced_parents"]
