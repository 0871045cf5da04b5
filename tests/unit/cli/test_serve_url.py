"""The URL `crmsync serve` registers with the emulators and logs: an IPv6 host in brackets, as URLs need it."""

from __future__ import annotations

from crmsync.cli.serve import service_url


def test_the_service_url_brackets_an_ipv6_host() -> None:
    assert service_url("::1", 8090) == "http://[::1]:8090"
    assert service_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert service_url("localhost", 0) is None  # any free port: not known before it is bound
