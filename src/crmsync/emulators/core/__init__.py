"""Vendor-neutral emulator machinery: store, clock, ids, faults, limits, webhooks, control plane."""
