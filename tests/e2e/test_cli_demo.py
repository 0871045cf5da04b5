"""`crmsync demo` as `make demo` runs it: three seeded emulators, read over HTTP, overlap reported."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_demo_seeds_three_emulators_and_reads_them_over_http() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crmsync", "demo", "--records", "300"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for system in ("salesforce", "hubspot", "dynamics"):
        assert re.search(rf"{system}\s+│ http://127\.0\.0\.1:\d+", out), out
    assert re.search(r"\d+ Contact", out)
    assert re.search(r"\d+ contacts", out)
    shared = re.search(r"([\d,]+) people are in more than one CRM \(([\d,]+) in all three\)", out)
    assert shared is not None, out
    assert int(shared.group(1).replace(",", "")) > 0
