"""The spellings of one remote id a person may paste: what a CRM's own screens show, beside what its API returns.

Vendor knowledge, kept with the connectors so the engine's views look a record up without knowing any vendor.
"""

from __future__ import annotations

from crmsync.connectors.salesforce.records import is_id, to_id18


def id_spellings(ident: str) -> list[str]:
    """`ident` first, then the other forms it stands for: a 15-character Salesforce id (its UI's form) is also
    its 18-character API form, the one crmsync stores."""
    spellings = [ident]
    if len(ident) == 15 and is_id(ident):
        spellings.append(to_id18(ident))
    return spellings


__all__ = ["id_spellings"]
