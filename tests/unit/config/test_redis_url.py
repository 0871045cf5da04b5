"""`state.redis_url`: validated, read from env or file when it holds a password, and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.config.values import redis_password, redis_url_safe
from crmsync.service.logs import Redactor, configured_secrets
from tests.unit.config.helpers import ENV, HUBSPOT_ONLY, issues_of, parse

PASSWORD = "hunter2-redis-pass"
EXAMPLE = "expected a Redis URL such as redis://127.0.0.1:6379/0"


def test_redis_url_is_optional_and_kept_as_written() -> None:
    assert parse(HUBSPOT_ONLY).redis_url is None
    assert parse(HUBSPOT_ONLY).redis_url_safe is None
    config = parse("state: {redis_url: 'redis://10.0.0.5:6379/2'}\n" + HUBSPOT_ONLY)
    assert config.redis_url is not None
    assert config.redis_url.get_secret_value() == "redis://10.0.0.5:6379/2"
    assert config.redis_url_safe == "redis://10.0.0.5:6379/2"
    for url in ("rediss://cache.example:6380/0", "unix:///run/redis/redis.sock?db=1", "redis://cache"):
        assert parse(f"state: {{redis_url: '{url}'}}\n" + HUBSPOT_ONLY).redis_url_safe == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://cache:6379/0", "the scheme 'http' is not redis://, rediss:// or unix://"),
        ("cache:6379", "the scheme 'cache' is not redis://, rediss:// or unix://"),
        ("redis:///0", "the host is missing"),
        ("redis://cache/zero", "the path must be a database number such as /0"),
        ("redis://cache:port/0", "(the host or port cannot be read)"),
        ("unix://", "a unix:// URL needs the socket's path"),
    ],
)
def test_a_bad_redis_url_is_reported_with_file_line_and_key(url: str, reason: str) -> None:
    text = f"state:\n  url: sqlite:///state.db\n  redis_url: '{url}'\n" + HUBSPOT_ONLY
    [issue] = issues_of(text)
    assert issue.startswith("crmsync.yaml:3:3: state.redis_url: " + EXAMPLE)
    assert issue.endswith(reason)


def test_a_redis_url_must_be_a_string_and_a_typo_names_the_keys() -> None:
    assert issues_of("state: {redis_url: 6379}\n" + HUBSPOT_ONLY) == [
        f"crmsync.yaml:1:9: state.redis_url: {EXAMPLE}, rediss://host:6380/0 or unix:///path/redis.sock"
    ]
    [typo] = issues_of("state: {redis: 'redis://cache'}\n" + HUBSPOT_ONLY)
    assert "unknown key 'redis'; expected one of: redis_url, url" in typo


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{PASSWORD}@cache:6379/0",
        f"rediss://crmsync:{PASSWORD}@cache/0",
        f"unix:///s.sock?password={PASSWORD}",
    ],
)
def test_a_password_written_in_the_file_is_refused_without_repeating_it(url: str) -> None:
    [issue] = issues_of(f"state: {{redis_url: '{url}'}}\n" + HUBSPOT_ONLY)
    assert issue == (
        "crmsync.yaml:1:9: state.redis_url: a URL with a password cannot be written in the file; "
        "use `redis_url: {env: VARIABLE}`"
    )
    assert PASSWORD not in issue
    # A bad URL with a password is not repeated either.
    [bad] = issues_of(f"state: {{redis_url: 'http://:{PASSWORD}@cache'}}\n" + HUBSPOT_ONLY)
    assert PASSWORD not in bad


def test_a_password_comes_from_the_environment_or_a_file_and_is_never_shown(tmp_path: Path) -> None:
    url = f"redis://crmsync:{PASSWORD}@cache.internal:6379/3"
    from_env = parse("state: {redis_url: {env: REDIS_URL}}\n" + HUBSPOT_ONLY, {**ENV, "REDIS_URL": url})
    (tmp_path / "redis_url").write_text(url + "\n", encoding="utf-8")
    from_file = parse("state: {redis_url: {file: redis_url}}\n" + HUBSPOT_ONLY, base_dir=tmp_path)
    for config in (from_env, from_file):
        assert config.redis_url is not None and config.redis_url.get_secret_value() == url
        assert config.redis_url_safe == "redis://crmsync:***@cache.internal:6379/3"
        assert PASSWORD not in repr(config) and PASSWORD not in str(config.redis_url)
        assert PASSWORD in configured_secrets(config)
    assert issues_of("state: {redis_url: {env: MISSING}}\n" + HUBSPOT_ONLY) == [
        "crmsync.yaml:1:21: state.redis_url.env: environment variable MISSING is not set"
    ]


def test_the_log_redactor_masks_the_redis_password_as_read_and_as_written_in_the_url() -> None:
    url = "redis://:p%40ss-w0rd@cache:6379/0"
    config = parse("state: {redis_url: {env: REDIS_URL}}\n" + HUBSPOT_ONLY, {**ENV, "REDIS_URL": url})
    redactor = Redactor(configured_secrets(config))
    assert redactor.scrub(f"AUTH p@ss-w0rd failed for {url}") == "AUTH *** failed for redis://:***@cache:6379/0"


def test_the_display_form_masks_a_password_wherever_the_url_carries_it() -> None:
    assert redis_url_safe("redis://:s3cret@h:1/2") == "redis://:***@h:1/2"
    assert redis_url_safe("rediss://bob:pa%40ss@h") == "rediss://bob:***@h"
    assert redis_url_safe("unix:///tmp/r.sock?db=1&password=x9y") == "unix:///tmp/r.sock?db=1&password=***"
    assert redis_url_safe("redis://bob@h/0") == "redis://bob@h/0"
    assert redis_password("rediss://bob:pa%40ss@h") == "pa@ss"
    assert redis_password("unix:///tmp/r.sock?password=x9y") == "x9y"
    assert redis_password("redis://h:6379/0") is None
