"""The record page's delete story, rendered from a given explanation: each way a delete can go is said in words, a
link whose delete is held says so, and whatever a CRM or a person supplied is escaped."""

from __future__ import annotations

from datetime import UTC, datetime

from crmsync.dashboard.backend import RecordLink, RecordPage
from crmsync.dashboard.pages import _environment
from crmsync.engine.views.explain import DeleteStep, RecordExplanation
from crmsync.store import Link

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"


def render(record: RecordExplanation) -> str:
    page = RecordPage(record, tuple(RecordLink(k.connection, k.object, k.remote_id, None) for k in record.links))
    return (
        _environment()
        .get_template("record.html")
        .render(
            who=None,
            csrf=None,
            csrf_field="csrf",
            path=f"/records/contact/{record.canonical_id}",
            flash=None,
            kinds=("contact",),
            page=page,
            record=record,
            history=[],
            connections=[],
        )
    )


def explanation(*deletes: DeleteStep, links: tuple[Link, ...] = ()) -> RecordExplanation:
    return RecordExplanation(
        canonical_id="c-1",
        kind="contact",
        label="Ada",
        stored=True,
        deleted=False,
        version=3,
        updated_at=AT,
        links=links,
        gone=(),
        fields=(),
        writes={},
        errors=(),
        deletes=deletes,
    )


def row(html: str, how: str) -> str:
    start = html.index(f'data-how="{how}"')
    return html[start : html.index("</tr>", start)]


def test_held_ignored_and_archived_deletes_are_told_apart() -> None:
    held_link = Link("c-1", "contact", "dynamics", "contact", "dv-1")
    html = render(
        explanation(
            DeleteStep("salesforce", "ignore", AT, "003A"),
            DeleteStep("hubspot", "archive", AT, "101", "description", "Deleted in HubSpot"),
            DeleteStep("dynamics", "held", AT, "dv-1"),
            links=(held_link, Link("c-1", "contact", "hubspot", "contacts", "dv-1")),
        )
    )
    assert "ignored by the delete policy" in row(html, "ignore") and "<code>003A</code>" in row(html, "ignore")
    archived = row(html, "archive")
    assert "description set to Deleted in HubSpot" in archived and "no longer written to hubspot" in archived
    assert "held by the mass-delete breaker" in row(html, "held") and "--allow-mass-delete" in row(html, "held")
    links = html[html.index('id="record-links"') : html.index("</ul>", html.index('id="record-links"'))]
    (dynamics, hubspot) = links.split("</li>")[:2]
    assert "the delete held" in dynamics and "the delete held" not in hubspot  # same id, another CRM
    assert 'id="deleted-everywhere"' not in html  # nothing is deleted everywhere yet


def test_what_crms_and_people_supplied_is_escaped() -> None:
    html = render(
        explanation(
            DeleteStep(HOSTILE, "manual", AT),
            DeleteStep("hubspot", "archive", AT, HOSTILE, "description", HOSTILE),
            DeleteStep("hubspot", "propagate", AT, "1", deleted_by_crmsync=(HOSTILE,), still_to_delete=(HOSTILE,)),
        )
    )
    assert HOSTILE not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
