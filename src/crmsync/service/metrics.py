"""The service's Prometheus metrics: one registry per service, so tests and several apps never share counters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from crmsync.connectors.limits import RateLimiter
from crmsync.engine.report import RunReport

# What a run's report counts, as the metric's `outcome` label (records read and written per connection).
_RECORD_OUTCOMES = ("read", "created", "updated", "deleted", "failed", "conflicts", "errors", "duplicates")


class ServiceMetrics:
    """Counters and gauges `/metrics` exposes; the receiver and the scheduler update them."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhooks = Counter(
            "crmsync_webhook_requests",
            "Webhook requests received, by connection and outcome (accepted, or why refused).",
            ("connection", "outcome"),
            registry=self.registry,
        )
        self.hints = Counter(
            "crmsync_webhook_hints",
            "Change hints decoded from accepted webhooks and queued, by connection and hint kind.",
            ("connection", "kind"),
            registry=self.registry,
        )
        self.records = Counter(
            "crmsync_records",
            "Records handled by sync passes, by object kind, connection and outcome.",
            ("kind", "connection", "outcome"),
            registry=self.registry,
        )
        self.passes = Counter(
            "crmsync_sync_passes",
            "Sync passes run, by trigger (poll or hints) and result (ok, failed, busy).",
            ("trigger", "result"),
            registry=self.registry,
        )
        self.pass_seconds = Histogram(
            "crmsync_sync_pass_seconds",
            "Wall time of one sync pass.",
            ("trigger",),
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=self.registry,
        )
        self.lag = Histogram(
            "crmsync_hint_lag_seconds",
            "From a webhook's arrival to the end of the pass that reconciled and delivered it.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "crmsync_queue_jobs",
            "Jobs in the queue by status (read from the state database at each scrape).",
            ("status",),
            registry=self.registry,
        )
        self.queue_oldest = Gauge(
            "crmsync_queue_oldest_pending_seconds",
            "Age of the oldest pending job (0 when none).",
            registry=self.registry,
        )
        self.last_success = Gauge(
            "crmsync_last_successful_pass_timestamp_seconds",
            "Unix time of the last sync pass that ended without a failure.",
            registry=self.registry,
        )
        self.alerts = Counter(
            "crmsync_alerts",
            "Alerts by kind and outcome: sent or failed (per configured URL), or suppressed (sent recently).",
            ("kind", "outcome"),
            registry=self.registry,
        )

    def watch_limiters(self, limiters: Mapping[str, Sequence[RateLimiter]]) -> None:
        """Expose each connection's limiters at every scrape: API calls, rate-limit waits, daily quota use."""
        self.registry.register(_LimiterCollector(limiters))

    def count_report(self, report: RunReport) -> None:
        for (kind, connection, what), n in report.counts.items():
            if what in _RECORD_OUTCOMES:
                self.records.labels(kind, connection, what).inc(n)

    def set_queue(self, counts: Mapping[str, int], oldest_pending_s: float) -> None:
        for status, n in counts.items():
            self.queue_depth.labels(status).set(n)
        self.queue_oldest.set(oldest_pending_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LimiterCollector(Collector):
    """Reads the limiters' own counters when Prometheus scrapes (they count every call, whoever made it)."""

    def __init__(self, limiters: Mapping[str, Sequence[RateLimiter]]) -> None:
        self.limiters = limiters

    def collect(self) -> Iterable[Metric]:
        calls = CounterMetricFamily(
            "crmsync_api_calls", "API requests sent, per connection and limiter.", labels=("connection", "limiter")
        )
        waits = CounterMetricFamily(
            "crmsync_rate_limit_waits",
            "Requests that waited for a rate limit, per connection and limiter.",
            labels=("connection", "limiter"),
        )
        waited = CounterMetricFamily(
            "crmsync_rate_limit_wait_seconds",
            "Time requests spent waiting for a rate limit.",
            labels=("connection", "limiter"),
        )
        used = GaugeMetricFamily(
            "crmsync_quota_used", "Daily API calls used, as the vendor reports them.", labels=("connection",)
        )
        limit = GaugeMetricFamily("crmsync_quota_limit", "The daily API call quota.", labels=("connection",))
        for connection, limiters in sorted(self.limiters.items()):
            for limiter in limiters:
                state = limiter.state()
                labels = (connection, limiter.connection)
                calls.add_metric(labels, float(state["admitted"] or 0))
                waits.add_metric(labels, float(state["waits"] or 0))
                waited.add_metric(labels, float(state["waited_s"] or 0))
                if state["daily_used"] is not None and state["daily_limit"] is not None:
                    used.add_metric((connection,), float(state["daily_used"]))
                    limit.add_metric((connection,), float(state["daily_limit"]))
        yield from (calls, waits, waited, used, limit)


__all__ = ["ServiceMetrics"]
