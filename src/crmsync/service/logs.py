"""Structured logs for the service: JSON lines (or readable console lines), with every configured secret redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import quote

import structlog
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from crmsync.config.values import SyncConfig, redis_password

REDACTED = "***"


def configured_secrets(config: SyncConfig) -> list[str]:
    """Every secret the configuration holds: connections', alert URLs, the dashboard's, the DB and Redis passwords."""
    found: list[str] = []
    for connection in config.connections.values():
        for value in connection.settings.__dict__.values():
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
    found += [url.get_secret_value() for url in config.service.alerts.urls]  # a Slack webhook URL is a secret
    dashboard = config.service.dashboard
    found += [token.token.get_secret_value() for token in dashboard.tokens]
    found += [user.password_hash.get_secret_value() for user in dashboard.users]
    if dashboard.session_secret is not None:
        found.append(dashboard.session_secret.get_secret_value())
    password = make_url(config.state_url).password
    if password:
        found.append(str(password))
    redis_secret = redis_password(config.redis_url.get_secret_value()) if config.redis_url is not None else None
    if redis_secret:
        found += [redis_secret, quote(redis_secret, safe="")]  # as read, and as written in the URL
    return sorted(set(found), key=len, reverse=True)  # longest first: a secret containing another is masked whole


class Redactor:
    """A structlog processor replacing any configured secret found in an event's strings."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if len(s) >= 4]  # a 1-3 character "secret" would mask ordinary words

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if isinstance(value, str):
                event[key] = self.scrub(value)
            elif isinstance(value, list | tuple):
                event[key] = [self.scrub(v) if isinstance(v, str) else v for v in value]
        return event


def configure_logging(config: SyncConfig, *, json: bool, level: int = logging.INFO) -> Redactor:
    """Route structlog, and the standard library's warnings and errors, through the redactor to stderr.

    The standard library's records are uvicorn's (a request that crashed, a socket error): rendered by its own
    formatter they were plain-text tracebacks among the JSON lines, with no secret masked.
    """
    redactor = Redactor(configured_secrets(config))
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redactor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # as uvicorn's own log config may have left them
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    root.setLevel(max(level, logging.WARNING))  # libraries' INFO (httpx: a line per request) is chatter
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    return redactor


__all__ = ["REDACTED", "Redactor", "configure_logging", "configured_secrets"]
