"""Canonical values survive the JSON encoding exactly, and the content hash ignores key order only."""

from __future__ import annotations

import json
from datetime import UTC, date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.model.values import CanonicalValue
from crmsync.store.codec import content_hash, decode_fields, decode_value, encode_fields

values: st.SearchStrategy[CanonicalValue] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.lists(st.text(), max_size=4).map(tuple),
)


@settings(max_examples=100)
@given(st.dictionaries(st.text(max_size=10), values, max_size=6))
def test_fields_round_trip(fields: dict[str, CanonicalValue]) -> None:
    # Through JSON text, as the database stores it.
    decoded = decode_fields(json.loads(json.dumps(encode_fields(fields))))
    assert decoded == fields
    assert {k: type(v) for k, v in decoded.items()} == {k: type(v) for k, v in fields.items()}


@settings(max_examples=100)
@given(st.dictionaries(st.text(max_size=10), values, min_size=1, max_size=6))
def test_hash_ignores_key_order(fields: dict[str, CanonicalValue]) -> None:
    assert content_hash(dict(reversed(list(fields.items())))) == content_hash(fields)


def test_hash_tells_types_apart() -> None:
    assert content_hash({"d": "2024-01-01"}) != content_hash({"d": date(2024, 1, 1)})
    assert len({content_hash({"v": v}) for v in ("1", 1, 1.5, True, None, ("1",))}) == 6


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="not an encoded canonical value"):
        decode_value({"?": 1})
