"""Which external-id values count as crmsync's own ids when a state started afresh meets its records again."""

from __future__ import annotations

from crmsync.engine.identify import carried_id
from crmsync.engine.matching import keyless_seed, uuid5_id

CANONICAL = uuid5_id(keyless_seed("contact", "salesforce", "003000000000001AAA"))


def test_an_id_crmsync_wrote_is_carried() -> None:
    assert carried_id({"crmsync_id": CANONICAL, "email": None}, "crmsync_id") == CANONICAL


def test_anything_else_in_the_field_is_not() -> None:
    for value in (None, "", 42, "not-an-id", CANONICAL.upper(), CANONICAL.replace("-", ""), f" {CANONICAL}"):
        assert carried_id({"crmsync_id": value}, "crmsync_id") is None, value


def test_no_field_no_id() -> None:
    assert carried_id({"crmsync_id": CANONICAL}, None) is None
    assert carried_id({}, "crmsync_id") is None
