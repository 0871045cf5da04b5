"""Alerts for `crmsync serve`: after each pass, decide what needs a person and POST it to Slack-compatible URLs.

`decide` is a pure function over a `Snapshot` of what a pass left behind: the connections whose
credentials were refused, the sync errors it recorded, the age of the queue's oldest pending job and
each connection's daily quota use. The `Alerter` takes the snapshot, holds back an alert already sent
within `repeat_s`, and POSTs the rest to every configured URL in the background, so a slow or
unreachable alert endpoint never delays a sync pass. A URL may carry its webhook's secret (Slack's do):
only its scheme, host and port are ever logged.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import structlog

from crmsync.config.schema import AlertsSection
from crmsync.connectors.limits import RateLimiter
from crmsync.engine.report import RunReport
from crmsync.service.metrics import ServiceMetrics
from crmsync.service.scheduler import PassSummary
from crmsync.store import Store

AlertKind = Literal["auth", "quota", "sync_errors", "queue_age"]
POST_TIMEOUT_S = 5.0
"""An alert endpoint that does not answer within this is counted as failed (the next pass may try again)."""
CLOSE_GRACE_S = 10.0
"""At shutdown, alerts still being posted get this long before they are abandoned."""
MESSAGE_CHARS = 300
"""A vendor's error text is cut here: the alert says what happened, the logs and `crmsync errors` say the rest."""
EVENT_TYPE = "crmsync_alert"

log = structlog.get_logger("crmsync.service.alerts")

# `RunReport.fail` writes "<stage> <kind> <connection>: <the error's message>" (engine/runner.py).
_FAILURE = re.compile(r"(?P<stage>read|write) (?P<kind>\S+) (?P<connection>[^\s:]+): (?P<message>.*)", re.DOTALL)
# The report keeps a failure's text, not its exception class: these are the messages the connectors give
# an AuthError (or a refused permission, which a person fixes the same way), by where they come from.
_AUTH = re.compile(
    "|".join(
        (
            r"refused the credentials",  # any connector: a 401 again after a token refresh (connectors/http.py)
            r"refused the OAuth refresh",  # HubSpot's OAuth refresh
            r"refused the (?:token|client credentials)",  # Dataverse's API, Entra ID's token endpoint
            r"token request \([^)]*\): refused",  # Salesforce's token endpoint
            r"an empty access token",
            r"\bHubSpot 40[13]\b",  # HubSpot's error table: 401 and 403 are AuthError
            r"\bHTTP 401\b",  # Salesforce's and Dataverse's error tables
            r"\b(?:INVALID_SESSION_ID|INVALID_AUTHENTICATION|EXPIRED_AUTHENTICATION|MISSING_SCOPES)\b",
            r"\bINSUFFICIENT_ACCESS\w*|\bAPI_DISABLED_FOR_ORG\b|lacks a privilege",
            r": AUTH: ",  # a write result classified `auth` (engine/settle.py)
        )
    )
)
# QuotaExhaustedError's messages: crmsync's own limiter, Salesforce's daily allocation, HubSpot's daily limit.
_QUOTA = re.compile(r"daily API calls used|REQUEST_LIMIT_EXCEEDED: TotalRequests|reached your daily limit")
_SYNC_ERROR_COUNTS = ("errors", "failed")  # records that could not be read or mapped, writes the vendor refused


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """One limiter's daily figures for a connection (as far as the vendor's headers told them)."""

    connection: str
    used: int
    limit: int

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a pass left behind, as far as the alert rules look at it."""

    failures: tuple[str, ...] = ()
    causes: Mapping[str, str] = field(default_factory=dict)  # connection -> `auth`, `quota`, ... (RunReport.causes)
    sync_errors: Mapping[str, int] = field(default_factory=dict)  # new sync errors in the pass, per connection
    oldest_pending_s: float | None = None
    quotas: tuple[QuotaUse, ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing a person should act on. Alerts with the same key are sent at most once per `repeat_s`."""

    kind: AlertKind
    subject: str  # the connection, or `queue` / `sync` for what concerns the whole service
    text: str
    details: Mapping[str, str | int | float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[AlertKind, str]:
        return (self.kind, self.subject)

    def payload(self) -> dict[str, Any]:
        """Slack's incoming-webhook message: `text` for people, `metadata` for anything that parses it."""
        details = {"kind": self.kind, "subject": self.subject, **self.details}
        return {"text": self.text, "metadata": {"event_type": EVENT_TYPE, "event_payload": details}}


# ---- the decision ----------------------------------------------------------------------------------


def decide(snapshot: Snapshot, settings: AlertsSection) -> list[Alert]:
    """The alerts a snapshot calls for under `settings`, connections in name order (no I/O, no clock)."""
    refused: dict[str, str] = {}
    exhausted: dict[str, str] = {}
    for failure in snapshot.failures:
        matched = _FAILURE.fullmatch(failure)
        if matched is None:
            continue
        connection, message = matched["connection"], matched["message"]
        cause = snapshot.causes.get(connection)  # the error's class, when the report kept it
        if cause == "auth" or (cause is None and _AUTH.search(message)):
            refused.setdefault(connection, message)
        elif cause == "quota" or (cause is None and _QUOTA.search(message)):
            exhausted.setdefault(connection, message)
    alerts = [_auth(connection, refused[connection]) for connection in sorted(refused)]
    alerts += _quotas(snapshot.quotas, exhausted, settings.quota_share)
    errors = {c: n for c, n in sorted(snapshot.sync_errors.items()) if n > 0}
    if sum(errors.values()) >= settings.sync_errors:
        alerts.append(_sync_errors(errors))
    age = snapshot.oldest_pending_s
    if age is not None and age >= settings.queue_age_s:
        alerts.append(_queue_age(age, settings.queue_age_s))
    return alerts


def _auth(connection: str, message: str) -> Alert:
    return Alert(
        "auth",
        connection,
        f"crmsync: the credentials of the connection `{connection}` were refused: {_short(message)}\n"
        f"Check its credentials in crmsync.yaml (the secret's environment variable or file, an expired or revoked "
        f"token, the integration user's permissions), then run `crmsync check`. Its changes wait in the queue.",
        {"connection": connection},
    )


def _quotas(quotas: Sequence[QuotaUse], exhausted: Mapping[str, str], share: float) -> list[Alert]:
    highest: dict[str, QuotaUse] = {}
    for use in quotas:
        if use.limit > 0 and (use.connection not in highest or use.share > highest[use.connection].share):
            highest[use.connection] = use
    alerts: list[Alert] = []
    for connection in sorted(set(highest) | set(exhausted)):
        known = highest.get(connection)
        if connection not in exhausted and (known is None or known.share < share):
            continue
        details: dict[str, str | int | float] = {"connection": connection}
        if known is not None:
            what = f"has used {known.used:,} of its {known.limit:,} daily API calls ({known.share:.0%})"
            details.update(used=known.used, limit=known.limit)
        else:
            what = "has used up its daily API calls"
        if connection in exhausted:
            what += f": {_short(exhausted[connection])}"
        alerts.append(
            Alert(
                "quota",
                connection,
                f"crmsync: the connection `{connection}` {what}.\n"
                f"When the quota is spent, its sync stops until the vendor's daily window rolls over. Find what "
                f"else uses the quota, or raise the limit with the vendor and in the connection's settings.",
                details,
            )
        )
    return alerts


def _sync_errors(errors: Mapping[str, int]) -> Alert:
    total = sum(errors.values())
    where = ", ".join(f"{connection} {n}" for connection, n in errors.items())
    return Alert(
        "sync_errors",
        "sync",
        f"crmsync: one sync pass recorded {total} new sync errors ({where}).\n"
        f"See them with `crmsync errors list`; fix the records (or the field map), then `crmsync errors retry`.",
        {"errors": total, **{f"errors.{connection}": n for connection, n in errors.items()}},
    )


def _queue_age(age_s: float, limit_s: float) -> Alert:
    return Alert(
        "queue_age",
        "queue",
        f"crmsync: the oldest pending job has waited {_duration(age_s)} (the alert threshold is "
        f"{_duration(limit_s)}).\nPasses are failing or falling behind: check `/readyz`, the service's logs "
        f"and `crmsync status`, and any connection alert sent with this one.",
        {"oldest_pending_s": round(age_s, 1)},
    )


def _short(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ---- the snapshot ------------------------------------------------------------------------------------


def sync_errors_of(report: RunReport) -> dict[str, int]:
    """New sync errors a pass recorded, per connection."""
    found: dict[str, int] = {}
    for (_, connection, what), n in report.counts.items():
        if what in _SYNC_ERROR_COUNTS and n:
            found[connection] = found.get(connection, 0) + n
    return found


def quota_use(connectors: Mapping[str, object]) -> tuple[QuotaUse, ...]:
    """Each connection's daily figures, from every limiter that knows them (HubSpot: the main one, not search)."""
    found: list[QuotaUse] = []
    for connection, connector in connectors.items():
        for limiter in _limiters(connector):
            state = limiter.state()
            used, limit = state.get("daily_used"), state.get("daily_limit")
            if isinstance(used, int | float) and isinstance(limit, int | float) and limit > 0:
                found.append(QuotaUse(connection, int(used), int(limit)))
    return tuple(found)


def _limiters(connector: object) -> list[RateLimiter]:
    # The Connector protocol does not promise limiters: a connector may list them (`limiters`), else
    # they are among its attributes; a test double may have none.
    listed = getattr(connector, "limiters", None)
    values = listed if isinstance(listed, tuple | list) else getattr(connector, "__dict__", {}).values()
    return [value for value in values if isinstance(value, RateLimiter)]


def safe_target(url: str) -> str:
    """What may be logged of an alert URL: scheme, host and port (the path or query may be its secret)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    except ValueError:
        return "(an alert URL)"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _unchanged(text: str) -> str:
    return text


# ---- sending -----------------------------------------------------------------------------------------


class Alerter:
    """Turns each pass into alerts, de-duplicated per `repeat_s`, and POSTs them to every configured URL.

    Nothing here raises into the scheduler: a failed POST is logged (the URL's host only) and counted in
    `crmsync_alerts_total{outcome="failed"}`; an alert no URL accepted is tried again after the next pass.
    `scrub` removes configured secrets from alert text (defence in depth: error messages name none).
    """

    def __init__(
        self,
        settings: AlertsSection,
        client: httpx.AsyncClient,
        metrics: ServiceMetrics,
        *,
        store: Store | None = None,
        connectors: Mapping[str, object] | None = None,
        clock: Callable[[], datetime] = utc_now,
        scrub: Callable[[str], str] = _unchanged,
        timeout_s: float = POST_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.client = client
        self.metrics = metrics
        self.store = store
        self.connectors = connectors or {}
        self.clock = clock
        self.scrub = scrub
        self.timeout_s = timeout_s
        self._urls = [url.get_secret_value() for url in settings.urls]
        self._sent: dict[tuple[AlertKind, str], datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def after_pass(self, report: RunReport | None, summary: PassSummary) -> None:
        """The scheduler's hook: decide now, post in the background."""
        del summary  # the report says all the rules need; a pass that raised has none
        try:
            snapshot = await self.snapshot(report)
            alerts = self.due(decide(snapshot, self.settings))
        except Exception:  # an alert bug must not stop the service's passes
            log.exception("could not evaluate the alerts")
            return
        if alerts:
            task = asyncio.create_task(self.send(alerts), name="crmsync-alerts")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def snapshot(self, report: RunReport | None) -> Snapshot:
        oldest_s: float | None = None
        if self.store is not None:
            try:
                async with self.store.read() as tx:
                    oldest = await tx.jobs.oldest_pending()
            except Exception as exc:  # the pass reports database trouble itself; the other rules still apply
                log.warning("could not read the queue's age for alerts", error=type(exc).__name__)
            else:
                oldest_s = max((self.clock() - oldest).total_seconds(), 0.0) if oldest is not None else None
        return Snapshot(
            failures=tuple(report.failures) if report is not None else (),
            causes=dict(report.causes) if report is not None else {},
            sync_errors=sync_errors_of(report) if report is not None else {},
            oldest_pending_s=oldest_s,
            quotas=quota_use(self.connectors),
        )

    def due(self, alerts: Sequence[Alert]) -> list[Alert]:
        """The alerts not sent within `repeat_s`, each marked as sent now; the others are counted as suppressed."""
        now = self.clock()
        due: list[Alert] = []
        for alert in alerts:
            last = self._sent.get(alert.key)
            if last is not None and (now - last).total_seconds() < self.settings.repeat_s:
                self.metrics.alerts.labels(alert.kind, "suppressed").inc()
                continue
            self._sent[alert.key] = now
            due.append(alert)
        return due

    async def send(self, alerts: Sequence[Alert]) -> None:
        """POST each alert to every URL at once; an alert no URL accepted is due again at the next pass."""
        for alert in alerts:
            marked = self._sent.get(alert.key)
            try:
                results = await asyncio.gather(*(self._post(url, alert) for url in self._urls))
            except Exception:  # _post returns False on failure; this is a bug, and still must not escape
                log.exception("could not send an alert", kind=alert.kind, subject=alert.subject)
                results = [False]
            if not any(results) and self._sent.get(alert.key) == marked:
                self._sent.pop(alert.key, None)

    async def _post(self, url: str, alert: Alert) -> bool:
        target = safe_target(url)
        payload = alert.payload()
        payload["text"] = self.scrub(str(payload["text"]))
        try:
            response = await self.client.post(url, json=payload, timeout=self.timeout_s)
        except Exception as exc:  # network errors, timeouts, a closed client: counted, never raised
            # Only the exception's class is logged: httpx's messages may quote the URL.
            self.metrics.alerts.labels(alert.kind, "failed").inc()
            log.warning(
                "alert not delivered", kind=alert.kind, subject=alert.subject, target=target, error=type(exc).__name__
            )
            return False
        if not response.is_success:
            self.metrics.alerts.labels(alert.kind, "failed").inc()
            log.warning(
                "alert refused", kind=alert.kind, subject=alert.subject, target=target, status=response.status_code
            )
            return False
        self.metrics.alerts.labels(alert.kind, "sent").inc()
        log.info("alert sent", kind=alert.kind, subject=alert.subject, target=target)
        return True

    async def drain(self) -> None:
        """Wait for the alerts being posted (tests, and shutdown)."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Give alerts in flight `CLOSE_GRACE_S` to go out, then abandon them (the client closes after this)."""
        try:
            await asyncio.wait_for(self.drain(), CLOSE_GRACE_S)
        except TimeoutError:
            pending = [task for task in self._tasks if not task.done()]
            log.warning("alerts still being sent at shutdown were abandoned", count=len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


__all__ = [
    "Alert",
    "AlertKind",
    "Alerter",
    "QuotaUse",
    "Snapshot",
    "decide",
    "quota_use",
    "safe_target",
    "sync_errors_of",
]
