"""What a run's report keeps of a failed connection: the cause, and whether the run leaves it alone from then on."""

from __future__ import annotations

import pytest

from crmsync.engine.report import RunReport
from crmsync.errors import (
    AuthError,
    ConfigError,
    CredentialsRefusedError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
)


@pytest.mark.parametrize("error", [TransientError("dv: 503"), RateLimitedError("hs: 429", retry_after=10.0)])
def test_an_unavailable_crm_is_given_up_once_with_a_note(error: Exception) -> None:
    report = RunReport()
    report.fail("company", "dv", "read", error)
    report.fail("contact", "dv", "write", error)
    assert report.given_up == {"dv"} and report.causes == {"dv": "unavailable"}
    assert report.notes == ["dv is unavailable (down or throttling): left alone for the rest of this run"]
    assert report.alerts == report.notes  # a person must see it: the CRM's changes wait for the next run
    assert len(report.failures) == 2 and report.failed_connections == frozenset({"dv"})


def test_refused_credentials_are_given_up_once_with_a_note() -> None:
    report = RunReport()
    report.fail("company", "hs", "read", CredentialsRefusedError("hs: GET /x: the CRM refused the credentials"))
    report.fail("company", "hs", "write", CredentialsRefusedError("hs: POST /y: the CRM refused the credentials"))
    assert report.given_up == {"hs"} and report.causes == {"hs": "auth"}
    assert report.notes == ["hs refused its credentials: left alone for the rest of this run"]
    assert report.alerts == report.notes


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (AuthError("hs: 403 MISSING_SCOPES for deals"), "auth"),  # may concern one object only
        (ConfigError("sf: no such object"), "error"),
        (QuotaExhaustedError("sf: daily limit"), "quota"),
    ],
)
def test_a_refusal_is_reported_but_the_crm_is_tried_for_the_other_kinds(error: Exception, cause: str) -> None:
    report = RunReport()
    report.fail("deal", "hs", "read", error)
    assert report.given_up == set() and report.notes == [] and report.causes == {"hs": cause}


def test_a_plain_message_has_no_cause_and_gives_nothing_up() -> None:
    report = RunReport()
    report.fail("contact", "sf", "read", "the reading lease is held by another run")
    assert report.given_up == set() and report.causes == {} and report.failures


def test_a_note_that_only_explains_is_no_alert() -> None:
    report = RunReport()
    report.note("hubspot contact: fields newly mapped (colour): read in full")
    report.note("contact: 3 deletes held", alert=True)
    assert report.notes == ["hubspot contact: fields newly mapped (colour): read in full", "contact: 3 deletes held"]
    assert report.alerts == ["contact: 3 deletes held"]
