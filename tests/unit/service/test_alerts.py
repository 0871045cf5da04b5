"""Alerts without I/O: the `service.alerts` settings, the decision over a pass's snapshot, de-duplication, sending."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from structlog.testing import capture_logs

from crmsync.cli.init import local_emulators
from crmsync.config import example_config, parse_config
from crmsync.config.schema import AlertsSection
from crmsync.connectors.limits import LimitSignal, RateLimiter
from crmsync.engine.report import RunReport
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.errors import AuthError, RetryableError
from crmsync.service.alerts import Alert, Alerter, QuotaUse, Snapshot, decide, quota_use, safe_target, sync_errors_of
from crmsync.service.metrics import ServiceMetrics
from crmsync.service.scheduler import PassSummary, Scheduler
from crmsync.store import Store
from tests.unit.config.helpers import issues_of, parse

HUBSPOT = """\
connections:
  hs:
    vendor: hubspot
    access_token: {env: HS_TOKEN}
"""
SLACK = "https://hooks.slack.com/services/T000/B000/xoxb-secret-part"
ENV = {"HS_TOKEN": "pat-na1-very-secret-token", "SLACK_WEBHOOK_URL": SLACK}
SETTINGS = AlertsSection.model_validate({"urls": [SLACK, "http://127.0.0.1:9000/hook?token=relay-secret"]})
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


# ---- configuration ---------------------------------------------------------------------------------


def test_alerts_default_to_off_and_read_their_urls_from_env_and_files(tmp_path: Path) -> None:
    assert parse(HUBSPOT).service.alerts == AlertsSection()
    assert AlertsSection().urls == ()
    (tmp_path / "relay_url").write_text("http://alerts.internal:8080/crmsync\n", encoding="utf-8")
    text = (
        "service:\n  alerts:\n    urls:\n      - {env: SLACK_WEBHOOK_URL}\n      - {file: relay_url}\n"
        "      - https://alerts.example.com/plain\n    sync_errors: 3\n    queue_age_s: 60\n"
        "    quota_share: 0.9\n    repeat_s: 600\n" + HUBSPOT
    )
    alerts = parse(text, ENV, base_dir=tmp_path).service.alerts
    assert [url.get_secret_value() for url in alerts.urls] == [
        SLACK,
        "http://alerts.internal:8080/crmsync",  # a secret file's trailing newline is not part of the URL
        "https://alerts.example.com/plain",
    ]
    assert (alerts.sync_errors, alerts.queue_age_s, alerts.quota_share, alerts.repeat_s) == (3, 60.0, 0.9, 600.0)
    assert "xoxb-secret-part" not in repr(alerts)


def test_the_example_configs_commented_alerts_are_valid_once_uncommented(tmp_path: Path) -> None:
    files = example_config(local_emulators())
    for name, text in files.secrets.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert parse_config(files.config, environ={}, base_dir=tmp_path).service.alerts == AlertsSection()
    lines = files.config.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("  # alerts:")))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  #"))
    lines[start:end] = [line.replace("  # ", "  ", 1) for line in lines[start:end]]
    alerts = parse_config("\n".join(lines), environ=ENV, base_dir=tmp_path).service.alerts
    assert [url.get_secret_value() for url in alerts.urls] == [SLACK]
    assert alerts.model_copy(update={"urls": ()}) == AlertsSection()  # the example shows the defaults


def test_alert_setting_mistakes_are_located_and_never_echo_a_url() -> None:
    text = (
        "service:\n"
        "  alerts:\n"
        "    urls:\n"
        "      - {env: MISSING_URL}\n"
        "      - ftp://files.example.com/xoxb-secret-part\n"
        "      - {file: nowhere/url.txt}\n"
        "      - {url: x}\n"
        "    quota_share: 1.5\n"
        "    repeat: 60\n" + HUBSPOT
    )
    issues = issues_of(text, ENV)
    assert issues[0] == "crmsync.yaml:4:10: service.alerts.urls.0.env: environment variable MISSING_URL is not set"
    assert issues[1] == (
        "crmsync.yaml:5:9: service.alerts.urls.1: expected an http(s) URL such as https://hooks.slack.com/services/…"
    )
    assert issues[2].startswith("crmsync.yaml:6:10: service.alerts.urls.2.file: cannot read ")
    assert issues[3] == "crmsync.yaml:7:9: service.alerts.urls.3: Input should be a valid string"
    assert issues[4].startswith("crmsync.yaml:8:5: service.alerts.quota_share: Input should be less than or equal to 1")
    assert issues[5] == (
        "crmsync.yaml:9:5: service.alerts.repeat: unknown key 'repeat'; "
        "expected one of: queue_age_s, quota_share, repeat_s, sync_errors, urls"
    )
    assert len(issues) == 6
    assert not any("secret-part" in issue for issue in issues)


def test_a_single_url_instead_of_a_list_is_refused_without_showing_it() -> None:
    issues = issues_of(f"service:\n  alerts:\n    urls: {SLACK}\n" + HUBSPOT, ENV)
    assert issues == [
        "crmsync.yaml:3:5: service.alerts.urls: expected a list of URLs, e.g. `urls: [{env: SLACK_WEBHOOK_URL}]`"
    ]


def test_service_keys_still_list_alerts_when_a_key_is_unknown() -> None:
    issues = issues_of("service:\n  alert: {}\n" + HUBSPOT, ENV)
    assert issues[0].startswith(
        "crmsync.yaml:2:3: service.alert: unknown key 'alert'; expected one of: alerts, dashboard, host"
    )


# ---- the decision ----------------------------------------------------------------------------------

# What `RunReport.fail` records for AuthErrors the three connectors raise (their messages, verbatim shapes).
AUTH_FAILURES = {
    "hs": "read contact hs: hs: GET /crm/v3/objects/contacts: the CRM refused the credentials after a token "
    "refresh (HubSpot 401 INVALID_AUTHENTICATION: Authentication credentials not found.)",
    "sf": "read company sf: sf: salesforce token request (client_credentials): refused: invalid_client: "
    "invalid client credentials",
    "dv": "write contact dv: dv: Entra ID token request: the identity provider refused the client credentials "
    "(invalid_client: AADSTS7000215: Invalid client secret provided.)",
    "dv2": "read deal dv2: dv2: GET /api/data/v9.2/opportunities: Dataverse refused the token: HTTP 401: expired",
    "sf2": "write contact sf2: sf2: INSUFFICIENT_ACCESS_OR_READONLY: insufficient access rights on object id",
}


def test_each_connectors_auth_failure_is_one_alert_naming_the_connection_and_what_to_do() -> None:
    failures = (*AUTH_FAILURES.values(), AUTH_FAILURES["hs"].replace("read contact", "write company"))
    alerts = decide(Snapshot(failures=failures), SETTINGS)
    assert [(a.kind, a.subject) for a in alerts] == [("auth", c) for c in sorted(AUTH_FAILURES)]
    hubspot = alerts[[a.subject for a in alerts].index("hs")]
    assert "`hs`" in hubspot.text and "refused the credentials" in hubspot.text
    assert "crmsync check" in hubspot.text
    assert hubspot.payload() == {
        "text": hubspot.text,
        "metadata": {
            "event_type": "crmsync_alert",
            "event_payload": {"kind": "auth", "subject": "hs", "connection": "hs"},
        },
    }


def test_other_failures_are_not_auth_alerts() -> None:
    failures = (
        "read contact hs: hs: GET /crm/v3/objects/contacts: HubSpot 503: service unavailable",
        "write deal sf: sf: HTTP 400 FIELD_CUSTOM_VALIDATION_EXCEPTION: amount must be positive",
        "not a failure line at all",
    )
    assert decide(Snapshot(failures=failures), SETTINGS) == []


def test_sync_errors_alert_at_the_threshold_with_the_count_per_connection() -> None:
    settings = SETTINGS.model_copy(update={"sync_errors": 5})
    assert decide(Snapshot(sync_errors={"hs": 2, "sf": 2}), settings) == []
    (alert,) = decide(Snapshot(sync_errors={"sf": 2, "hs": 3, "dv": 0}), settings)
    assert (alert.kind, alert.subject) == ("sync_errors", "sync")
    assert "5 new sync errors (hs 3, sf 2)" in alert.text and "crmsync errors list" in alert.text
    assert alert.details == {"errors": 5, "errors.hs": 3, "errors.sf": 2}


def test_the_queue_age_alert_fires_once_the_oldest_pending_job_is_old_enough() -> None:
    assert decide(Snapshot(oldest_pending_s=None), SETTINGS) == []
    assert decide(Snapshot(oldest_pending_s=899.0), SETTINGS) == []
    (alert,) = decide(Snapshot(oldest_pending_s=1800.0), SETTINGS)
    assert (alert.kind, alert.subject) == ("queue_age", "queue")
    assert "30 min" in alert.text and "15 min" in alert.text


def test_quota_alerts_use_each_connections_most_used_limiter_or_an_exhausted_quota() -> None:
    quotas = (QuotaUse("sf", 70_000, 100_000), QuotaUse("hs", 790, 1000), QuotaUse("hs", 850, 1000))
    (alert,) = decide(Snapshot(quotas=quotas), SETTINGS)
    assert (alert.kind, alert.subject) == ("quota", "hs")
    assert "850 of its 1,000 daily API calls (85%)" in alert.text
    exhausted = "write contact sf: sf: HTTP 403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
    concurrent = "write contact dv: dv: HTTP 403 REQUEST_LIMIT_EXCEEDED: ConcurrentPerOrgLongTxn Limit exceeded"
    alerts = decide(Snapshot(failures=(exhausted, concurrent), quotas=quotas), SETTINGS)
    assert [(a.kind, a.subject) for a in alerts] == [("quota", "hs"), ("quota", "sf")]
    assert "70,000 of its 100,000" in alerts[1].text and "TotalRequests" in alerts[1].text


def test_a_healthy_pass_raises_nothing() -> None:
    snapshot = Snapshot(sync_errors={"hs": 1}, oldest_pending_s=3.0, quotas=(QuotaUse("hs", 10, 1000),))
    assert decide(snapshot, SETTINGS) == []


def test_the_snapshot_counts_read_and_write_errors_per_connection() -> None:
    report = RunReport()
    report.add("contact", "hs", "errors", 2)
    report.add("deal", "hs", "failed", 1)
    report.add("contact", "sf", "failed", 4)
    report.add("contact", "sf", "updated", 9)
    assert sync_errors_of(report) == {"hs": 3, "sf": 4}


@dataclass
class _Limited:
    """A connector as far as alerts look at it: limiters kept as attributes."""

    limiter: RateLimiter
    search_limiter: RateLimiter
    name: str = "not a limiter"


@dataclass
class _Listed:
    """A connector that lists its limiters."""

    limiters: tuple[RateLimiter, ...]


def test_quota_use_reads_every_limiter_that_knows_its_daily_figures() -> None:
    def signals(response: httpx.Response) -> LimitSignal:
        return LimitSignal(daily_used=int(response.headers["used"]), daily_limit=1000)

    main = RateLimiter("hs", signals=signals)
    main.observe(httpx.Response(200, headers={"used": "640"}))
    listed = RateLimiter("sf", signals=signals)
    listed.observe(httpx.Response(200, headers={"used": "990"}))
    connectors = {
        "hs": _Limited(main, RateLimiter("hs (search)")),
        "sf": _Listed((listed, RateLimiter("sf (oauth)"))),
        "other": object(),
    }
    assert quota_use(connectors) == (QuotaUse("hs", 640, 1000), QuotaUse("sf", 990, 1000))


def test_only_the_scheme_and_host_of_an_alert_url_are_ever_shown() -> None:
    assert safe_target(SLACK) == "https://hooks.slack.com"
    assert safe_target("http://127.0.0.1:9000/hook?token=relay-secret") == "http://127.0.0.1:9000"


# ---- de-duplication and sending ------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class _Endpoint:
    """Stands in for Slack: records what it was sent, answers with `status` (or fails the connection)."""

    status: int = 200
    broken: bool = False
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.broken:
            raise httpx.ConnectError(f"cannot reach {request.url}", request=request)
        self.received.append((str(request.url), json.loads(request.content)))
        return httpx.Response(self.status)


@contextlib.asynccontextmanager
async def _alerter(
    endpoint: _Endpoint, settings: AlertsSection = SETTINGS, **kwargs: Any
) -> AsyncIterator[tuple[Alerter, ServiceMetrics, _Clock]]:
    metrics, clock = ServiceMetrics(), _Clock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as client:
        alerter = Alerter(settings, client, metrics, clock=clock, **kwargs)
        yield alerter, metrics, clock
        await alerter.aclose()


def _count(metrics: ServiceMetrics, kind: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value("crmsync_alerts_total", {"kind": kind, "outcome": outcome})
    return value or 0.0


def _auth_report(connection: str = "hs") -> RunReport:
    report = RunReport()
    report.fail("contact", connection, "read", f"{connection}: GET /x: the CRM refused the credentials (HTTP 401)")
    return report


SUMMARY = PassSummary("poll", T0, 0.1, False, "failed")


async def test_an_alert_goes_to_every_url_once_per_repeat_interval() -> None:
    endpoint = _Endpoint()
    async with _alerter(endpoint) as (alerter, metrics, clock):
        await alerter.after_pass(_auth_report(), SUMMARY)
        await alerter.drain()
        assert sorted(url for url, _ in endpoint.received) == sorted(u.get_secret_value() for u in SETTINGS.urls)
        body = endpoint.received[0][1]
        assert "`hs`" in body["text"] and body["metadata"]["event_payload"]["kind"] == "auth"

        clock.now = T0 + timedelta(seconds=3599)
        await alerter.after_pass(_auth_report(), SUMMARY)
        await alerter.drain()
        assert len(endpoint.received) == 2
        assert (_count(metrics, "auth", "sent"), _count(metrics, "auth", "suppressed")) == (2, 1)

        clock.now = T0 + timedelta(seconds=3600)
        await alerter.after_pass(_auth_report(), SUMMARY)
        await alerter.drain()
        assert len(endpoint.received) == 4

        # Another connection's refusal is another alert, sent at once.
        await alerter.after_pass(_auth_report("sf"), SUMMARY)
        await alerter.drain()
        assert len(endpoint.received) == 6


async def test_a_failed_post_is_counted_and_logged_without_the_urls_secret_and_tried_again() -> None:
    endpoint = _Endpoint(broken=True)
    async with _alerter(endpoint, AlertsSection(urls=(SETTINGS.urls[0],))) as (alerter, metrics, clock):
        with capture_logs() as logs:
            await alerter.after_pass(_auth_report(), SUMMARY)
            await alerter.drain()
        assert _count(metrics, "auth", "failed") == 1
        (event,) = [e for e in logs if e["event"] == "alert not delivered"]
        assert event["target"] == "https://hooks.slack.com" and event["error"] == "ConnectError"
        assert "secret-part" not in repr(logs)

        # Nobody got it: the next pass sends it again, well within repeat_s.
        endpoint.broken = False
        clock.now = T0 + timedelta(seconds=5)
        await alerter.after_pass(_auth_report(), SUMMARY)
        await alerter.drain()
        assert len(endpoint.received) == 1 and _count(metrics, "auth", "sent") == 1

        endpoint.status = 500
        await alerter.after_pass(_auth_report("sf"), SUMMARY)
        await alerter.drain()
        assert _count(metrics, "auth", "failed") == 2


async def test_alert_text_is_scrubbed_of_configured_secrets() -> None:
    endpoint = _Endpoint()
    report = RunReport()
    report.fail("contact", "hs", "read", "hs: GET /x: HTTP 401 INVALID_SESSION_ID: token pat-na1-very-secret-token")

    def scrub(text: str) -> str:
        return text.replace("pat-na1-very-secret-token", "***")

    async with _alerter(endpoint, scrub=scrub) as (alerter, _, _):
        await alerter.after_pass(report, SUMMARY)
        await alerter.drain()
    assert endpoint.received and all("very-secret" not in json.dumps(body) for _, body in endpoint.received)


@dataclass
class _Jobs:
    oldest: datetime | None

    async def oldest_pending(self) -> datetime | None:
        return self.oldest


@dataclass
class _Store:
    """The store as far as alerts read it: the oldest pending job."""

    jobs: _Jobs

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[_Store]:
        yield self


async def test_the_queue_age_comes_from_the_store_on_the_injected_clock() -> None:
    endpoint = _Endpoint()
    store = cast(Store, _Store(_Jobs(T0 - timedelta(minutes=20))))
    async with _alerter(endpoint, store=store) as (alerter, metrics, _):
        snapshot = await alerter.snapshot(None)
        assert snapshot.oldest_pending_s == 1200.0
        await alerter.after_pass(None, SUMMARY)  # a pass that raised still checks the queue
        await alerter.drain()
    assert {body["metadata"]["event_payload"]["kind"] for _, body in endpoint.received} == {"queue_age"}
    assert _count(metrics, "queue_age", "sent") == 2


async def test_alerts_due_marks_and_suppresses_by_kind_and_subject() -> None:
    async with _alerter(_Endpoint()) as (alerter, _, clock):
        auth, queue = Alert("auth", "hs", "a"), Alert("queue_age", "queue", "q")
        assert alerter.due([auth, queue]) == [auth, queue]
        clock.now = T0 + timedelta(seconds=10)
        assert alerter.due([auth, Alert("auth", "sf", "b")]) == [Alert("auth", "sf", "b")]


# ---- the scheduler's hook ----------------------------------------------------------------------------


class _Runner:
    def __init__(self, outcomes: list[RunReport | Exception]) -> None:
        self.outcomes = outcomes

    async def run(self, options: RunOptions | None = None) -> RunReport:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def test_the_scheduler_calls_its_hook_after_every_pass_and_survives_a_failing_hook() -> None:
    seen: list[tuple[RunReport | None, PassSummary]] = []

    async def hook(report: RunReport | None, summary: PassSummary) -> None:
        seen.append((report, summary))
        raise RuntimeError("a broken hook")

    ok, failed = RunReport(), _auth_report()
    runner = cast(SyncRunner, _Runner([ok, failed, AuthError("hs: refused")]))
    scheduler = Scheduler(runner, ServiceMetrics(), poll_interval_s=60, after_pass=hook)
    with capture_logs() as logs:
        assert await scheduler._pass("poll") is None
        assert await scheduler._pass("hints") == 5.0
        assert await scheduler._pass("hints") == 5.0
    assert [(report, summary.ok) for report, summary in seen] == [(ok, True), (failed, False), (None, False)]
    assert seen[2][1].message == "hs: refused"
    assert sum(e["event"] == "the after-pass hook failed" for e in logs) == 3
    assert scheduler.passes == 3


def test_the_reports_error_class_decides_without_reading_the_message() -> None:
    report = RunReport()
    report.fail("contact", "sf", "read", AuthError("sf: the token endpoint said no"))  # no known phrase in it
    report.fail("contact", "dv", "write", RetryableError("dv: HTTP 401 from a proxy during an outage"))
    snapshot = Snapshot(failures=tuple(report.failures), causes=dict(report.causes))
    kinds = {(alert.kind, alert.subject) for alert in decide(snapshot, AlertsSection())}
    assert kinds == {("auth", "sf")}
