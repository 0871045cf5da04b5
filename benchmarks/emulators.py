"""Emulator throughput and seeding benchmark (run by hand: `.venv/bin/python benchmarks/emulators.py`).

For each vendor, in its own process as `crmsync emulate` runs it:
  * seeding 1,000,000 records: wall time and peak RSS of a fresh process;
  * single-record reads per second over loopback (wrk when installed, else a multi-process httpx load);
  * records per second through the list/query endpoint (following the vendor's paging) and a batch endpoint
    (plus batch read and search for vendors that have them).
Vendor rate limits are raised for the run: the point is what the emulator can serve, not what the vendor allows.
Targets (issue 2): ≥ 2,000 reads/s, ≥ 60,000 records/s, 1M records seeded in < 60 s within 1.5 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

VENDORS = ("salesforce", "hubspot", "dynamics")
HIGH_LIMITS = {
    "salesforce": ["salesforce.daily_api_limit=1000000000"],
    "hubspot": [
        "hubspot.ten_second_limit=100000000",
        "hubspot.daily_limit=1000000000",
        "hubspot.search_per_second=100000",
    ],
    "dynamics": ["dynamics.requests_per_window=100000000", "dynamics.concurrent_requests=100000"],
}
SF = "/services/data/v60.0"
DV = "/api/data/v9.2"


# ---- seeding ------------------------------------------------------------------------------------
def seed_child(vendor: str, records: int) -> None:
    """Runs in a fresh process: build, seed, print seconds and peak RSS (MB) as JSON."""
    from crmsync.emulators.registry import build_emulator

    built = build_emulator(vendor)  # type: ignore[arg-type]
    started = time.perf_counter()
    counts = built.vendor.seed(1, records)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(orjson.dumps({"seconds": elapsed, "peak_mb": peak_mb, "counts": counts}).decode())


def measure_seed(vendor: str, records: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--seed-child", vendor, "--records", str(records)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = orjson.loads(out.stdout.strip().splitlines()[-1])
    return result


# ---- a running emulator -----------------------------------------------------------------------
@dataclass
class Running:
    vendor: str
    base_url: str
    process: subprocess.Popen[str]
    token: str = ""


def start(vendor: str, records: int, port: int) -> Running:
    sets = [arg for item in HIGH_LIMITS[vendor] for arg in ("--set", item)]
    command = [sys.executable, "-m", "crmsync", "emulate", vendor, "--port", str(port), "--records", str(records)]
    process = subprocess.Popen(
        [*command, *sets],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "240"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Control plane" in line:
            break
    else:
        raise RuntimeError(f"{vendor} emulator did not start")
    running = Running(vendor, f"http://127.0.0.1:{port}", process)
    running.token = authenticate(running)
    return running


def authenticate(run: Running) -> str:
    with httpx.Client(base_url=run.base_url) as client:
        creds = client.get("/_emulator").json()["credentials"]
        if run.vendor == "salesforce":
            form = {
                "grant_type": "client_credentials",
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
            }
            token: str = client.post("/services/oauth2/token", data=form).json()["access_token"]
        elif run.vendor == "hubspot":
            token = creds["private_app_token"]
        else:
            form = {
                "grant_type": "client_credentials",
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
                "scope": f"{run.base_url}/.default",
            }
            token = client.post(f"/{creds['tenant_id']}/oauth2/v2.0/token", data=form).json()["access_token"]
    return token


def read_path(vendor: str, record_id: str) -> str:
    if vendor == "salesforce":
        return f"{SF}/sobjects/Contact/{record_id}"
    if vendor == "hubspot":
        return f"/crm/v3/objects/contacts/{record_id}?properties=email,firstname,lastname,phone"
    return f"{DV}/contacts({record_id})?$select=firstname,lastname,emailaddress1,telephone1"


# ---- paging through everything ----------------------------------------------------------------
def page_all(run: Running, client: httpx.Client) -> tuple[int, int, list[str]]:
    """Every contact through the vendor's list/query paging: (records, calls, first ids)."""
    records = calls = 0
    ids: list[str] = []
    if run.vendor == "salesforce":
        url: str | None = (
            f"{SF}/query?q=SELECT Id, FirstName, LastName, Email, Phone, Title, AccountId, SystemModstamp FROM Contact"
        )
        while url:
            body = orjson.loads(client.get(url).content)
            calls += 1
            records += len(body["records"])
            ids.extend(r["Id"] for r in body["records"][:50] if len(ids) < 2000)
            url = body.get("nextRecordsUrl")
    elif run.vendor == "hubspot":
        after: str | None = None
        props = "email,firstname,lastname,phone,jobtitle,lastmodifieddate"
        while True:
            params = {"limit": "100", "properties": props, **({"after": after} if after else {})}
            body = orjson.loads(client.get("/crm/v3/objects/contacts", params=params).content)
            calls += 1
            records += len(body["results"])
            ids.extend(r["id"] for r in body["results"][:20] if len(ids) < 2000)
            after = body.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
    else:
        next_url: str | None = f"{DV}/contacts?$select=firstname,lastname,emailaddress1,telephone1,jobtitle,modifiedon"
        headers = {"Prefer": "odata.maxpagesize=5000"}
        while next_url:
            body = orjson.loads(client.get(next_url, headers=headers).content)
            calls += 1
            records += len(body["value"])
            ids.extend(r["contactid"] for r in body["value"][:400] if len(ids) < 2000)
            next_url = body.get("@odata.nextLink")
    return records, calls, ids


def batch_write(run: Running, client: httpx.Client, total: int) -> tuple[int, int]:
    """Create `total` contacts through the vendor's batch endpoint: (records, calls)."""
    created = calls = 0
    if run.vendor == "salesforce":
        while created < total:
            recs = [
                {
                    "attributes": {"type": "Contact"},
                    "LastName": f"Bench{created + i}",
                    "Email": f"b{created + i}@bench.example",
                }
                for i in range(200)
            ]
            response = client.post(f"{SF}/composite/sobjects", json={"allOrNone": False, "records": recs})
            assert response.status_code == 200, response.text[:300]
            created += len(recs)
            calls += 1
    elif run.vendor == "hubspot":
        while created < total:
            inputs = [
                {"properties": {"lastname": f"Bench{created + i}", "email": f"b{created + i}@bench.example"}}
                for i in range(100)
            ]
            response = client.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
            assert response.status_code in (200, 201), response.text[:300]
            created += len(inputs)
            calls += 1
    else:
        while created < total:
            parts = []
            for i in range(1000):
                body = orjson.dumps(
                    {"lastname": f"Bench{created + i}", "emailaddress1": f"b{created + i}@bench.example"}
                )
                parts.append(
                    "--batch_bench\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                    f"POST {run.base_url}{DV}/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                    f"{body.decode()}\r\n"
                )
            payload = "".join(parts) + "--batch_bench--\r\n"
            response = client.post(
                f"{DV}/$batch",
                content=payload.encode(),
                headers={"Content-Type": "multipart/mixed; boundary=batch_bench", "Prefer": "odata.continue-on-error"},
            )
            assert response.status_code == 200, response.text[:300]
            created += 1000
            calls += 1
    return created, calls


def batch_read(run: Running, client: httpx.Client, ids: list[str], total: int) -> tuple[int, int] | None:
    """Read `total` known contacts back through the vendor's batch read, 100 ids a call: (records, calls).

    None for a vendor without a batch read endpoint measured here.
    """
    if run.vendor != "hubspot" or not ids:
        return None
    read = calls = 0
    props = ["email", "firstname", "lastname", "phone", "jobtitle", "lastmodifieddate"]
    while read < total:
        inputs = [{"id": ids[(read + i) % len(ids)]} for i in range(100)]
        response = client.post("/crm/v3/objects/contacts/batch/read", json={"inputs": inputs, "properties": props})
        assert response.status_code == 200, response.text[:300]
        read += len(orjson.loads(response.content)["results"])
        calls += 1
    return read, calls


def search_all(run: Running, client: httpx.Client) -> tuple[int, int] | None:
    """Page through one search's results (HubSpot: 200 a page, up to the 10,000-result window): (records, calls).

    None for a vendor whose query endpoint is already its list endpoint.
    """
    if run.vendor != "hubspot":
        return None
    found = calls = 0
    after: str | None = "0"
    query = {
        "filterGroups": [{"filters": [{"propertyName": "lastname", "operator": "HAS_PROPERTY"}]}],
        "properties": ["email", "firstname", "lastname", "phone", "jobtitle", "lastmodifieddate"],
        "limit": 200,
    }
    while after is not None and int(after) < 10_000:
        response = client.post("/crm/v3/objects/contacts/search", json={**query, "after": after})
        assert response.status_code == 200, response.text[:300]
        body = orjson.loads(response.content)
        found += len(body["results"])
        calls += 1
        after = body.get("paging", {}).get("next", {}).get("after")
    return found, calls


# ---- single-record reads ----------------------------------------------------------------------
def _read_worker(base_url: str, token: str, paths: list[str], seconds: float, queue: Any) -> None:
    async def run() -> int:
        done = 0
        deadline = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, limits=limits
        ) as c:

            async def loop(offset: int) -> None:
                nonlocal done
                i = offset
                while time.perf_counter() < deadline:
                    response = await c.get(paths[i % len(paths)])
                    if response.status_code != 200:
                        raise RuntimeError(f"read failed: {response.status_code} {response.text[:200]}")
                    done += 1
                    i += 7

            await asyncio.gather(*(loop(k) for k in range(16)))
        return done

    queue.put(asyncio.run(run()))


def reads_per_second(run: Running, ids: list[str], seconds: float = 8.0) -> tuple[float, str]:
    paths = [read_path(run.vendor, i) for i in ids]
    wrk = shutil.which("wrk")
    if wrk:
        listed = ",".join(f'"{p}"' for p in paths)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(
                f"paths = {{{listed}}}\ni = 0\n"
                f'wrk.headers["Authorization"] = "Bearer {run.token}"\n'
                "request = function()\n i = i + 1\n return wrk.format(nil, paths[(i % #paths) + 1])\nend\n"
            )
        out = subprocess.run(
            [wrk, "-t2", "-c32", f"-d{int(seconds)}s", "-s", script.name, run.base_url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            if line.startswith("Requests/sec:"):
                if "Non-2xx" in out:
                    raise RuntimeError(out)
                return float(line.split()[1]), "wrk -t2 -c32"
        raise RuntimeError(out)
    queue: Any = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_read_worker, args=(run.base_url, run.token, paths, seconds, queue))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    total = sum(queue.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds, "httpx, 2 processes x 16 connections"


def timed(action: Callable[[], tuple[int, int]]) -> tuple[int, int, float]:
    started = time.perf_counter()
    records, calls = action()
    return records, calls, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vendors", default=",".join(VENDORS))
    parser.add_argument("--seed-records", type=int, default=1_000_000)
    parser.add_argument("--serve-records", type=int, default=200_000)
    parser.add_argument("--batch-records", type=int, default=20_000)
    parser.add_argument("--seed-child")
    parser.add_argument("--records", type=int)
    args = parser.parse_args()
    if args.seed_child:
        seed_child(args.seed_child, args.records)
        return
    port = 19081
    for vendor in args.vendors.split(","):
        print(f"== {vendor}")
        seeded = measure_seed(vendor, args.seed_records)
        print(
            f"seed {args.seed_records:,} records: {seeded['seconds']:.1f} s, peak RSS {seeded['peak_mb']:.0f} MB "
            f"({seeded['counts']})"
        )
        run = start(vendor, args.serve_records, port)
        port += 1
        try:
            bench_running(run, args.batch_records)
        finally:
            run.process.terminate()
            run.process.wait(timeout=30)


def _page_worker(run: Running, queue: Any) -> None:
    with httpx.Client(base_url=run.base_url, headers={"Authorization": f"Bearer {run.token}"}, timeout=120) as client:
        records, calls, _ = page_all(run, client)
    queue.put((records, calls))


def concurrent_paging(run: Running, clients: int) -> tuple[int, int, float]:
    """`clients` processes each page through every contact at once: the emulator, not one client, is the limit."""
    queue: Any = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_page_worker, args=(run, queue)) for _ in range(clients)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    return sum(r[0] for r in results), sum(r[1] for r in results), elapsed


def bench_running(run: Running, batch_records: int) -> None:
    headers = {"Authorization": f"Bearer {run.token}"}
    with httpx.Client(base_url=run.base_url, headers=headers, timeout=120) as client:
        records, calls, elapsed = timed(lambda: page_all(run, client)[:2])
        print(f"list/query, one client: {records:,} contacts in {calls} calls, {records / elapsed:,.0f} records/s")
        records, calls, elapsed = concurrent_paging(run, 2)
        print(f"list/query, two clients at once: {records:,} contacts, {records / elapsed:,.0f} records/s")
        ids = page_all(run, client)[2]
        rate, how = reads_per_second(run, ids)
        print(f"single-record reads: {rate:,.0f}/s ({how})")
        records, calls, elapsed = timed(lambda: batch_write(run, client, batch_records))
        print(f"batch create: {records:,} contacts in {calls} calls, {records / elapsed:,.0f} records/s")
        started = time.perf_counter()
        measured = batch_read(run, client, ids, batch_records)
        if measured is not None:
            elapsed = time.perf_counter() - started
            print(
                f"batch read: {measured[0]:,} contacts in {measured[1]} calls, {measured[0] / elapsed:,.0f} records/s"
            )
        started = time.perf_counter()
        measured = search_all(run, client)
        if measured is not None:
            elapsed = time.perf_counter() - started
            print(f"search: {measured[0]:,} contacts in {measured[1]} calls, {measured[0] / elapsed:,.0f} records/s")


if __name__ == "__main__":
    main()
