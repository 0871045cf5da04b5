"""Serve one seeded emulator with crmsync's external-id fields declared, in its own process (for benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import time

from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.emulators.server import serve_many
from crmsync.testing.sandbox.names import merge_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("vendor", choices=VENDOR_NAMES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=INT", help="an integer emulator setting")
    args = parser.parse_args()
    vendor: VendorName = args.vendor
    module = importlib.import_module(f"crmsync.emulators.{vendor}")
    overrides = {key: int(value) for key, _, value in (item.partition("=") for item in args.set)}
    config = module.CONFIG_CLASS.model_validate(merge_settings(vendor, overrides))
    app = module.create_app(config)
    started = time.perf_counter()
    counts = app.state.vendor.seed(args.seed, args.records)
    print(f"seeded {vendor}: {counts} in {time.perf_counter() - started:.1f}s", flush=True)
    gc.collect()
    gc.freeze()  # the seeded heap never needs collecting again
    gc.set_threshold(50_000, 20, 20)
    asyncio.run(serve_many([(vendor, app)], ports=[args.port]))


if __name__ == "__main__":
    main()
