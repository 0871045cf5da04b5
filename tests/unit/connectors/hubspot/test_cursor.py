"""The incremental cursor's fingerprints: an edit within the stamp of the last read is delivered, not skipped."""

from __future__ import annotations

import base64

import httpx
import orjson
import pytest

from crmsync.connectors.base import Cursor
from crmsync.connectors.hubspot.cursor import HubSpotCursor, fingerprint
from crmsync.errors import ConfigError
from tests.unit.connectors.hubspot.conftest import MakeConnector, control
from tests.unit.connectors.hubspot.helpers import create, drain, update

FIELDS = ["email", "jobtitle"]


def _v1(cursor: Cursor) -> Cursor:
    """The same cursor as the previous release wrote it: version 1, stamps without fingerprints."""
    data = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    data["v"] = 1
    del data["f"]
    return Cursor(base64.urlsafe_b64encode(orjson.dumps(data)).decode())


async def test_an_edit_at_the_stamp_already_read_is_delivered(client: httpx.AsyncClient, make: MakeConnector) -> None:
    await control(client, "POST", "clock", {"freeze": True})  # every write below shares one stamp
    (contact,) = await create(client, "contacts", 1, email="grace@example.com")
    connector = make(lookback_s=5.0)
    _, _, cursor, _ = await drain(connector, "contacts", None, fields=FIELDS)
    assert (await drain(connector, "contacts", cursor, fields=FIELDS))[0] == []
    await update(client, "contacts", contact, jobtitle="Admiral")
    upserts, _, cursor, _ = await drain(connector, "contacts", cursor, fields=FIELDS)
    assert [(r.id, r.fields["jobtitle"]) for r in upserts] == [(contact, "Admiral")]
    assert (await drain(connector, "contacts", cursor, fields=FIELDS))[0] == []


async def test_a_version_1_cursor_is_read_and_delivers_again_rather_than_skip(
    client: httpx.AsyncClient, make: MakeConnector
) -> None:
    await control(client, "POST", "clock", {"freeze": True})
    ids = await create(client, "contacts", 3, email="p{i}@example.com")
    connector = make(lookback_s=5.0)
    _, _, cursor, _ = await drain(connector, "contacts", None, fields=FIELDS)
    old = _v1(cursor)
    assert HubSpotCursor.decode(old, "contacts", "hs").prints == {}
    # Without fingerprints an equal stamp proves nothing: the window is delivered once more, then remembered.
    again, _, cursor, _ = await drain(connector, "contacts", old, fields=FIELDS)
    assert sorted(r.id for r in again) == sorted(ids)
    assert HubSpotCursor.decode(cursor, "contacts", "hs").prints.keys() == set(ids)
    assert (await drain(connector, "contacts", cursor, fields=FIELDS))[0] == []


def test_an_unknown_cursor_version_is_refused_with_its_object() -> None:
    raw = orjson.dumps({"v": 99, "o": "contacts", "m": "incr", "s": 0})
    with pytest.raises(ConfigError, match="hs: contacts: not a HubSpot change cursor"):
        HubSpotCursor.decode(base64.urlsafe_b64encode(raw).decode(), "contacts", "hs")


def test_fingerprints_ignore_property_order_and_tell_contents_apart() -> None:
    assert fingerprint({"a": "1", "b": None}) == fingerprint({"b": None, "a": "1"})
    assert fingerprint({"a": "1", "b": None}) != fingerprint({"a": "1", "b": "2"})


def test_the_cursor_round_trips_its_fingerprints() -> None:
    seen = {str(i): 1000 + i for i in range(50)}
    cursor = HubSpotCursor("contacts", "incr", 2000, seen, deleted=5, prints={k: int(k) * 7 for k in seen})
    decoded = HubSpotCursor.decode(cursor.encode(), "contacts", "hs")
    assert decoded == cursor
