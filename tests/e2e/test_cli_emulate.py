"""`crmsync emulate all --tls` as a user runs it: three HTTPS emulators, seeded, trusted via the printed CA."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx


def free_port_block(count: int) -> int:
    """A first port such that `count` consecutive loopback ports are free right now."""
    for first in range(20_000 + os.getpid() % 20_000, 60_000, 7):
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", first + offset))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first
    raise RuntimeError("no block of free ports")


def test_emulate_all_with_tls_serves_three_seeded_emulators(tmp_path: Path) -> None:
    port = free_port_block(3)
    env = {**os.environ, "COLUMNS": "240", "PYTHONUNBUFFERED": "1", "CRMSYNC_HUBSPOT_PRIVATE_APP_TOKEN": "pat-e2e"}
    command = [
        sys.executable,
        "-m",
        "crmsync",
        "emulate",
        "all",
        "--tls",
        "--port",
        str(port),
        "--records",
        "200",
        "--tls-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    output: list[str] = []
    try:
        for line in process.stdout:  # blocks until the CLI prints; the control-plane hint ends the banner
            output.append(line)
            if "Control plane" in line:
                break
        text = "".join(output)
        urls = re.findall(r"https://127\.0\.0\.1:\d+", text)
        assert sorted(set(urls)) == [f"https://127.0.0.1:{port + i}" for i in range(3)], text
        assert "pat-e2e" in text  # credentials fixed through the environment are the ones printed
        ca_file = tmp_path / "crmsync-test-ca.pem"
        assert str(ca_file) in text.replace("\n", "")
        context = ssl.create_default_context(cafile=str(ca_file))
        with httpx.Client(verify=context, timeout=10) as client:
            vendors = {}
            for url in sorted(set(urls)):
                info = client.get(f"{url}/_emulator").json()
                vendors[info["vendor"]] = sum(info["counts"].values())
        assert set(vendors) == {"salesforce", "hubspot", "dynamics"}
        assert all(count >= 150 for count in vendors.values()), vendors
    finally:
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=30)
    assert process.returncode == 0, "".join(output) + remaining


def test_a_setting_typo_is_refused_with_the_known_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crmsync", "emulate", "hubspot", "--set", "hubspot.no_such_setting=1"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "240"},
        timeout=60,
    )
    assert result.returncode != 0
    assert "no_such_setting" in result.stderr
    assert "known settings" in result.stderr


def emulate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`crmsync emulate ARGS` expected to end by itself (a refusal), piped: 80 columns, no terminal."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CRMSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "crmsync", "emulate", *args],
        capture_output=True,
        text=True,
        env={**clean, "COLUMNS": "80", **(env or {})},
        timeout=60,
    )


def test_a_port_in_use_is_one_line_naming_the_vendor_the_port_and_the_option() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = emulate("hubspot", "--port", str(port), "--records", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"error: cannot serve the hubspot emulator on 127.0.0.1:{port}: address already in use; "
        "choose other ports with --port PORT"
    ]
    assert "seeded" not in result.stdout  # found before any seeding


def test_an_environment_variable_typo_is_refused_with_the_known_settings() -> None:
    result = emulate(
        "hubspot",
        env={"CRMSYNC_HUBSPOT_PRIVAT_APP_TOKEN": "pat-typo", "CRMSYNC_STATE_URL": "sqlite:///x.db"},
    )
    assert result.returncode == 2
    flat = " ".join(result.stderr.split())
    assert "CRMSYNC_HUBSPOT_PRIVAT_APP_TOKEN: no such hubspot setting; known settings:" in flat
    assert "private_app_token" in flat and "CRMSYNC_STATE_URL" not in flat  # crmsync's own variables are not settings


def test_the_banner_prints_every_credential_whole_when_piped() -> None:
    port = free_port_block(3)
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CRMSYNC_")}
    env = {**clean, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "crmsync", "emulate", "all", "--port", str(port), "--records", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    output: list[str] = []
    try:
        for line in process.stdout:
            output.append(line)
            if "Control plane" in line:
                break
        text = "".join(output)
        with httpx.Client(timeout=10) as client:
            served = [client.get(f"http://127.0.0.1:{port + i}/_emulator").json() for i in range(3)]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert "…" not in text, text
    lines = set(text.splitlines())
    for info in served:
        for key, value in info["credentials"].items():
            if isinstance(value, str) and "\n" not in value:
                assert f"    {key}: {value}" in lines, (key, text)
            elif isinstance(value, str):  # a PEM key: every line of it, whole
                assert all(part in lines or f"    {key}: {part}" in lines for part in value.splitlines()), text
