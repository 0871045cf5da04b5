"""Vendor-shaped identifier generators: Salesforce 18-char ids, HubSpot numeric ids, Dataverse GUIDs.

Every generator is monotonic, so creation order equals id order; listings can page by position.
"""

from __future__ import annotations

import uuid

_SF_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def salesforce_checksum(id15: str) -> str:
    """The three-character suffix that makes a 15-char Salesforce id case-insensitive."""
    if len(id15) != 15:
        raise ValueError("a Salesforce id has 15 significant characters")
    suffix = []
    for chunk in range(3):
        bits = 0
        for position in range(5):
            char = id15[chunk * 5 + position]
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(_SF_CHECKSUM_ALPHABET[bits])
    return "".join(suffix)


_TAIL_SPAN = 62 * 62


def _tails() -> list[tuple[str, int]]:
    """Every two-digit base62 tail with the checksum bits it sets (positions 3 and 4 of the last chunk)."""
    out = []
    for value in range(_TAIL_SPAN):
        first, second = _BASE62[value // 62], _BASE62[value % 62]
        out.append((first + second, ((first.isupper()) << 3) | ((second.isupper()) << 4)))
    return out


_TAILS = _tails()


def salesforce_id18(id15: str) -> str:
    return id15 + salesforce_checksum(id15)


def is_salesforce_id(value: str) -> bool:
    """True for a well-formed 15- or 18-character id (18 only when the checksum agrees)."""
    if len(value) not in (15, 18) or not value.isalnum() or not value.isascii():
        return False
    return len(value) == 15 or salesforce_checksum(value[:15]) == value[15:]


def to_id18(value: str) -> str:
    """Normalise a 15- or 18-char id to its 18-char form (callers check `is_salesforce_id` first)."""
    return salesforce_id18(value) if len(value) == 15 else salesforce_id18(value[:15])


class SalesforceIds:
    """`<key prefix><pod 'dM0'><9 base62 digits>` + checksum, as recorded org ids look (001dM00003jU9GxQAK)."""

    def __init__(self, pod: str = "dM0", start: int = 1) -> None:
        self._pod = pod
        self._next: dict[str, int] = {}
        self._start = start
        # Per prefix: the id's first 13 characters for the current run of 62² numbers, with the checksum
        # parts they fix. Seeding a million records makes a million ids, so only the last two digits and one
        # checksum character are worked out per id.
        self._heads: dict[str, tuple[int, str, str, int]] = {}

    def next(self, key_prefix: str) -> str:
        n = self._next.get(key_prefix, self._start)
        self._next[key_prefix] = n + 1
        high, low = divmod(n, _TAIL_SPAN)
        head = self._heads.get(key_prefix)
        if head is None or head[0] != high:
            head = self._heads[key_prefix] = self._head(key_prefix, high)
        tail, tail_bits = _TAILS[low]
        return f"{head[1]}{tail}{head[2]}{_SF_CHECKSUM_ALPHABET[head[3] | tail_bits]}"

    def _head(self, key_prefix: str, high: int) -> tuple[int, str, str, int]:
        digits = []
        n = high * _TAIL_SPAN
        for _ in range(9):
            n, r = divmod(n, 62)
            digits.append(_BASE62[r])
        id15 = key_prefix + self._pod + "".join(reversed(digits))
        checksum = salesforce_checksum(id15)
        # The last chunk's bits from its first three characters; the two tail characters add theirs per id.
        bits = sum(1 << position for position in range(3) if "A" <= id15[10 + position] <= "Z")
        return high, id15[:13], checksum[:2], bits


class HubSpotIds:
    """Numeric string ids, increasing, of the width recent portals hand out (e.g. 713492963559)."""

    def __init__(self, start: int = 100_000_000_001) -> None:
        self._next = start

    def next(self) -> str:
        value = self._next
        self._next += 1
        return str(value)

    def observe(self, value: int) -> None:
        """Keep ids unique after records with explicit ids were loaded."""
        self._next = max(self._next, value + 1)


class DataverseIds:
    """Sequential GUIDs (Dataverse issues sequential ids so clustered indexes stay ordered)."""

    def __init__(self, seed: int = 0) -> None:
        self._prefix = (seed & 0xFFFFFFFF) << 96
        self._counter = 1

    def next(self) -> str:
        value = self._prefix | (0x4000 << 64) | (0x8000 << 48) | self._counter
        self._counter += 1
        return str(uuid.UUID(int=value))
