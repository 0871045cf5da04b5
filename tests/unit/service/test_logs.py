"""`crmsync serve`'s stderr holds JSON lines only, with secrets masked: uvicorn's own records included."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from crmsync.service.logs import REDACTED, configure_logging
from tests.unit.config.helpers import parse
from tests.unit.service.test_service_units import ENV, THREE


@pytest.fixture
def stdlib_logging() -> Iterator[None]:
    """configure_logging points structlog and the standard library's root logger at stderr: restore both."""
    root = logging.getLogger()
    handlers, level, structlog_config = root.handlers[:], root.level, structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**structlog_config)  # it printed to this test's captured stderr


def test_uvicorn_errors_are_json_lines_with_the_secrets_masked(
    stdlib_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(parse(THREE, ENV), json=True)
    try:
        raise RuntimeError(f"upstream refused {ENV['HS_TOKEN']}")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("httpx").info("HTTP Request: GET https://api.hubapi.com/ 200")  # INFO chatter stays out
    lines = capsys.readouterr().err.splitlines()
    [record] = [json.loads(line) for line in lines]  # one line, and JSON
    assert record["event"] == "Exception in ASGI application" and record["level"] == "error"
    assert "RuntimeError" in record["exception"] and ENV["HS_TOKEN"] not in record["exception"]
    assert REDACTED in record["exception"]
