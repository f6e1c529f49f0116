"""`probe --json`: what was opened and held, what stopped it, what it cost."""

from __future__ import annotations

from tunekit.model.base import Model
from tunekit.model.capacity import Limit
from tunekit.persist.calibration import Calibration
from tunekit.probe.verdicts import Failure, ProbeVerdict


class ProbeLayout(Model):
    source_ips: int
    first_source: str
    destinations: list[str]
    connect_workers: int
    accept_workers: int
    per_worker: int
    nofile: int
    conntrack: bool


class ProbeNamespace(Model):
    sysctls_copied: list[str]
    not_copied: dict[str, str]


class ProbeMemory(Model):
    sockets: int
    slab_bytes: int
    per_socket: float | None
    estimate_per_socket: float
    diff_percent: float | None
    tcp_mem_pages: int
    caches: dict[str, int]
    send: int
    tcp_mem_pages_per_conn: float | None
    estimate_tcp_mem_pages_per_conn: float | None
    buffer_diff_percent: float | None
    slab_per_conn: float | None
    excluded: dict[str, int]
    conntrack_entries: int
    conntrack_bytes: int
    per_conntrack_entry: float | None
    estimate_per_conntrack_entry: float | None
    conntrack_diff_percent: float | None


class ProbeEstimate(Model):
    binding: Limit | None
    predicted_stop: int | None
    agrees: bool | None
    limits: list[Limit]


class Probe(Model):
    connections: int
    complete: bool  # all N held, no failure, and everything below measured (verdict)
    verdict: ProbeVerdict  # complete, stopped-short (exit 1), incomplete (exit 5)
    unverified: list[str]  # what it could not measure, each with why (incomplete says it)
    established: int
    connected: int
    accepted: int
    # still established at the end of the hold, from /proc/net/sockstat; None: it could not
    # be read, so it was not counted (verdict "incomplete", and unverified says so)
    held: int | None
    connect_seconds: float
    rate: int
    hold_seconds: float
    layout: ProbeLayout
    namespace: ProbeNamespace
    failure: Failure | None
    events: list[Failure]
    memory: ProbeMemory | None
    estimate: ProbeEstimate
    constants: dict[str, float]
    buffers_set: dict[str, str]
    calibration: Calibration | None  # what --calibrate wrote, as estimate and check show it
