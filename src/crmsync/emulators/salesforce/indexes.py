"""Lookup and child indexes of the org: key -> one record id, or a list once several records share the key."""

from __future__ import annotations

from typing import Any

# An index entry: one record id (by far the usual case: a bare str costs nothing beyond the id itself, where even
# a one-element list costs 64 bytes and a set 216), or a list of ids once a second record shares the key.
Ids = str | list[str]
Index = dict[Any, Ids]


def index_add(index: Index, key: Any, record_id: str) -> None:
    found = index.get(key)
    if found is None:
        index[key] = record_id
    elif isinstance(found, str):
        if found != record_id:
            index[key] = [found, record_id]
    else:  # writes unindex a record before indexing it again, so no id is listed twice
        found.append(record_id)


def index_remove(index: Index, key: Any, record_id: str) -> None:
    found = index.get(key)
    if found is None:
        return
    if isinstance(found, str):
        if found == record_id:
            del index[key]
    elif record_id in found:
        found.remove(record_id)
        if len(found) == 1:
            index[key] = found[0]
        elif not found:
            del index[key]


def index_ids(index: Index, key: Any) -> list[str]:
    """The ids under a key, as a fresh list (callers may write while they walk it)."""
    found = index.get(key)
    if found is None:
        return []
    return [found] if isinstance(found, str) else list(found)
