"""Cursors never skip: records sharing one modification stamp across page boundaries all reach the other CRMs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.store import open_store
from crmsync.testing.sandbox import EXTERNAL_ID_FIELDS, Sandbox
from tests.integration.engine.conftest import Crm

# Pages as small as each connector allows, so one stamp spans several of them. Salesforce's query batch is
# 200 at least; HubSpot's search window is also capped at 15 results, so the one-stamp window is read past
# the cap (by id) too.
CONNECTIONS: dict[str, dict[str, Any]] = {
    "salesforce": {"query_batch_size": 200},
    "hubspot": {"page_size": 10, "search_page_size": 10, "search_result_cap": 15},
    "dynamics": {"page_size": 10},
}
SEARCHES = 50
BATCH: dict[VendorName, int] = {"salesforce": 250, "hubspot": 25, "dynamics": 25}
"""Records created at one frozen instant: more than two pages of each source."""
FIELDS: dict[VendorName, tuple[str, str, str]] = {
    "salesforce": ("Email", "LastName", "Title"),
    "hubspot": ("email", "lastname", "jobtitle"),
    "dynamics": ("emailaddress1", "lastname", "jobtitle"),
}


@pytest.fixture(params=VENDOR_NAMES)
def source(request: pytest.FixtureRequest) -> VendorName:
    vendor: VendorName = request.param
    return vendor


@pytest.fixture
async def crm(sandbox: Sandbox, tmp_path: Path, source: VendorName) -> AsyncIterator[Crm]:
    """crmsync with the source's pages small (the other connections read the copies with their defaults)."""
    await sandbox.reset()
    # Small search pages mean many searches: a search quota of 50 a second (crmsync's and HubSpot's) keeps
    # the test from waiting on the default 5.
    connections: dict[str, dict[str, Any]] = {"hubspot": {"search_per_second": SEARCHES}}
    connections[source] = {**connections.get(source, {}), **CONNECTIONS[source]}
    await sandbox.hubspot.control.call("POST", "limits", {"search_per_second": SEARCHES})
    config = sandbox.load_config(tmp_path, objects_yaml="contact: {}", connections=connections)
    store = await open_store(config.state_url)
    try:
        yield Crm(sandbox, config, store)
    finally:
        await store.aclose()
        # Neither a reset nor the next test thaws a clock or restores HubSpot's limits: put both back.
        await asyncio.gather(*(user.control.thaw() for user in sandbox.users.values()))
        limit = sandbox.endpoints.hubspot.search_per_second
        await sandbox.hubspot.control.call("POST", "limits", {"search_per_second": limit})


async def create(sb: Sandbox, vendor: VendorName, prefix: str, count: int) -> dict[str, str]:
    """`count` contacts in `vendor`, twenty at a time; email -> remote id."""
    email, last, title = FIELDS[vendor]
    user = sb.user(vendor)
    emails = [f"{prefix}{n}@example.com" for n in range(count)]
    ids: list[str] = []
    if vendor == "salesforce":  # sObject Collections: 200 a call
        for start in range(0, count, 200):
            records = [
                {"attributes": {"type": "Contact"}, email: e, last: f"Stamp {e.split('@')[0]}", title: "Original"}
                for e in emails[start : start + 200]
            ]
            body = {"allOrNone": True, "records": records}
            answer = await sb.salesforce.session.send("POST", "/services/data/v60.0/composite/sobjects", json=body)
            ids += [str(item["id"]) for item in answer.json()]
        return dict(zip(emails, ids, strict=True))
    for start in range(0, count, 20):
        chunk = emails[start : start + 20]
        ids += await asyncio.gather(
            *(user.create("contact", {email: e, last: f"Stamp {e.split('@')[0]}", title: "Original"}) for e in chunk)
        )
    return dict(zip(emails, ids, strict=True))


async def titles(sb: Sandbox, vendor: VendorName) -> tuple[Counter[str], dict[str, Any], Counter[str]]:
    """A CRM's contacts: how often each email occurs, each email's title, how often each crmsync id occurs."""
    email, _, title = FIELDS[vendor]
    ext = EXTERNAL_ID_FIELDS[vendor]
    rows: list[dict[str, Any]] = []
    if vendor == "salesforce":
        rows = await sb.salesforce.query(f"SELECT Id, {email}, {title}, {ext} FROM Contact")
    elif vendor == "hubspot":
        params = {"limit": "100", "properties": f"{email},{title},{ext}"}
        while True:
            page = (await sb.hubspot.session.send("GET", "/crm/v3/objects/contacts", params=params)).json()
            rows += [r["properties"] for r in page["results"]]
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
            params["after"] = str(after)
    else:
        rows = await sb.dynamics.rows("contact", {"$select": f"contactid,{email},{title},{ext}"})
    emails = Counter(str(r.get(email) or "").lower() for r in rows)
    return (
        emails,
        {str(r.get(email) or "").lower(): r.get(title) for r in rows},
        Counter(str(r[ext]) for r in rows if r.get(ext)),
    )


async def assert_exactly_once(sb: Sandbox, expected: Mapping[str, str], *, where: str) -> None:
    """Every CRM holds each expected contact once, with its title; a failure names every CRM that is off."""
    problems: list[str] = []
    for vendor in VENDOR_NAMES:
        counted, held, external_ids = await titles(sb, vendor)
        missing = sorted(set(expected) - set(counted))
        if missing:
            problems.append(f"{vendor} lacks {len(missing)} of {len(expected)}: {missing[:5]}")
        twice = {e: n for e, n in counted.items() if n > 1}
        if twice:
            problems.append(f"{vendor} holds duplicates: {twice}")
        if others := set(counted) - set(expected):
            problems.append(f"{vendor} holds others: {others}")
        if max(external_ids.values(), default=1) != 1:
            problems.append(f"{vendor} shares a crmsync id: {external_ids.most_common(2)}")
        wrong = {e: held[e] for e, title in expected.items() if e in held and held[e] != title}
        if wrong:
            problems.append(f"{vendor} holds other titles: {dict(list(wrong.items())[:5])}")
    assert not problems, f"{where}: " + "; ".join(problems)


async def update_titles(sb: Sandbox, vendor: VendorName, ids: Sequence[str], title: str) -> None:
    await asyncio.gather(*(sb.user(vendor).update("contact", i, {FIELDS[vendor][2]: title}) for i in ids))


async def test_records_sharing_a_stamp_across_page_boundaries_are_all_synced(crm: Crm, source: VendorName) -> None:
    sb = crm.sb
    base = await create(sb, source, "base", 3)
    await crm.sync()  # sets every cursor
    expected = dict.fromkeys(base, "Original")
    await assert_exactly_once(sb, expected, where="baseline")

    # Every record the source writes now carries one and the same modification stamp. The clock runs again
    # while crmsync syncs: the emulators' rate-limit windows run on it too.
    control = sb.user(source).control
    frozen = await control.freeze()
    first = await create(sb, source, "first", BATCH[source])
    assert (await control.clock()).now_ms == frozen.now_ms
    # A slow sync: the source's clock is seconds past the stamp when crmsync reads (and, in Dataverse,
    # takes its next delta token), as on a loaded machine.
    await control.advance(3)
    await control.thaw()
    report = await crm.sync()
    expected |= dict.fromkeys(first, "Original")
    await assert_exactly_once(sb, expected, where="a one-stamp batch over several pages")
    assert report.total("read", "contact") >= len(first)

    # The same instant again: more records, an edit of a record from before the freeze (its id is below the
    # last one delivered at that stamp) and, where stamps are whole seconds, a second edit of a record already
    # delivered at it. (HubSpot stamps milliseconds: no edit can follow crmsync's read within the same one.)
    await control.freeze()
    await control.set_clock(frozen.now)  # back to the instant the cursor stopped at
    second = await create(sb, source, "second", BATCH[source])
    edited = [sorted(base)[0]] + ([sorted(first)[0]] if source != "hubspot" else [])
    ids = base | first
    await update_titles(sb, source, [ids[e] for e in edited], "Edited at the same instant")
    assert (await control.clock()).now_ms == frozen.now_ms
    await control.thaw()
    await crm.sync()
    expected |= dict.fromkeys(second, "Original") | dict.fromkeys(edited, "Edited at the same instant")
    await assert_exactly_once(sb, expected, where="the same stamp again, after the cursor reached it")

    again = await crm.sync()
    assert sum(again.total(w) for w in ("created", "updated", "deleted")) == 0
