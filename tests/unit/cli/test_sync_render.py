"""`crmsync sync`'s summary and plan as printed: true totals, whatever the plan lists."""

from __future__ import annotations

from rich.console import Console

from crmsync.cli.sync import render_report
from crmsync.engine.report import PlannedWrite, RunReport


def printed(report: RunReport, *, dry_run: bool) -> str:
    out = Console(record=True, width=200, color_system=None)
    render_report(report, dry_run=dry_run, console=out)
    return out.export_text()


def capped_plan() -> RunReport:
    report = RunReport(plan_cap=2)
    for n in range(3):
        report.planned(PlannedWrite("sf", "contact", "create", f"c{n}", None))
    report.planned(PlannedWrite("hs", "contact", "update", "c0", "h0", (("title", "A", "B"),)))
    report.planned_beyond_cap("contact", "hs", "delete")
    report.add("contact", "sf", "read", 5)
    return report


def test_a_dry_run_prints_the_true_totals_per_connection_and_not_the_cap() -> None:
    text = printed(capped_plan(), dry_run=True)
    assert "Plan (5 writes: hs 1 update, 1 delete; sf 3 creates):" in text
    assert "… and 3 more" in text  # two listed of five
    assert text.count("create ") == 2


def test_a_dry_runs_summary_shows_the_planned_writes() -> None:
    lines = printed(capped_plan(), dry_run=True).splitlines()
    sf = next(line for line in lines if "│ contact │ sf" in line)
    hs = next(line for line in lines if "│ contact │ hs" in line)
    assert [cell.strip() for cell in sf.split("│")[3:-1]] == ["5", "", "", "", "", "3", "", "", ""]
    assert [cell.strip() for cell in hs.split("│")[3:-1]] == ["", "", "", "", "", "", "1", "1", ""]
    assert any("crt/upd/del: writes planned" in line for line in lines)


def test_a_real_runs_summary_counts_the_writes_made() -> None:
    report = capped_plan()
    report.add("contact", "sf", "created", 3)
    text = printed(report, dry_run=False)
    assert "crt/upd/del: writes made" in text and "Plan" not in text


def test_a_dry_run_with_failures_never_claims_agreement() -> None:
    empty = RunReport()
    empty.fail("contact", "sf", "read", "unknown fields ['Nickname__c']")
    text = " ".join(printed(empty, dry_run=True).split())
    assert "FAILED read contact sf" in text and "The plan is incomplete" in text and "agrees" not in text
    partial = capped_plan()
    partial.fail("deal", "hs", "read", "HTTP 403")
    assert "The plan is incomplete" in " ".join(printed(partial, dry_run=True).split())
    assert "The plan is incomplete" not in printed(capped_plan(), dry_run=True)


def test_a_narrow_summary_keeps_object_and_connection_names_whole() -> None:
    report = RunReport()
    for what in ("read", "new", "matched", "changed", "conflicts", "created", "updated", "deleted", "failed"):
        report.add("activity", "salesforce", what, 12_345)
    out = Console(record=True, width=80, color_system=None)
    render_report(report, dry_run=False, console=out)
    text = out.export_text()
    assert "│ activity │ salesforce │" in text and "connection" in text and "salesfor…" not in text


def test_records_kept_out_by_the_filter_are_counted_in_the_summary() -> None:
    report = RunReport()
    report.add("contact", "hs", "read", 3)
    report.add("contact", "hs", "filtered", 2)
    report.add("contact", "sf", "filtered", 1)
    text = printed(report, dry_run=False)
    assert "contact: 3 records kept out by objects.contact.filter, not synced (hs 2, sf 1)" in text


def test_a_real_run_says_what_it_left_for_a_person_and_where_to_look() -> None:
    # The run exits 0 with records a CRM refused and conflicts parked: only a table column said so.
    report = capped_plan()
    report.add("contact", "sf", "conflicts", 2)
    report.add("contact", "hs", "failed", 1)
    report.add("contact", "dv", "errors", 1)
    text = " ".join(printed(report, dry_run=False).split())
    assert "2 conflicts parked for a person: `crmsync conflicts list`" in text
    assert "2 sync errors and duplicates recorded: `crmsync errors list`" in text
    quiet = " ".join(printed(capped_plan(), dry_run=False).split())
    assert "parked for a person" not in quiet and "recorded:" not in quiet


def test_a_planned_write_names_its_record_by_the_id_explain_takes() -> None:
    # The plan cut the canonical id to 8 characters, which `crmsync explain` does not accept.
    report = RunReport()
    canonical = "b1d4f98e-56ed-5a2e-86a9-2bf089d64a96"
    report.planned(PlannedWrite("sf", "contact", "update", canonical, "003A", (("title", "A", "B"),)))
    assert f"update contact {canonical} in sf (003A)" in printed(report, dry_run=True)


def test_records_waiting_for_a_parent_are_said_and_the_empty_plan_claims_no_agreement() -> None:
    # `sync --dry-run --object deal` on a state holding no companies read every deal and planned nothing: it said
    # "every connection already agrees", and the real run said nothing at all.
    report = RunReport()
    for connection in ("sf", "hs", "dv"):
        report.add("deal", connection, "read", 68)
        report.add("deal", connection, "waiting", 68)
    text = " ".join(printed(report, dry_run=True).split())
    assert "deal: records wait for a parent crmsync has not synced yet" in text
    assert "agrees" not in text and "The plan is empty for now" in text
    assert "deal: records wait for a parent" in " ".join(printed(report, dry_run=False).split())
