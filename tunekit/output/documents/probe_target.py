"""`probe --target --json`: N connections from this host to the user's own servers, what
stopped the climb (on this client or on the server's side), and the client-side
estimate's prediction beside what was observed."""

from __future__ import annotations

from typing import Literal

from tunekit.model.base import Model
from tunekit.output.documents.probe import ProbeEstimate
from tunekit.probe.causes import Cause
from tunekit.probe.verdicts import Failure, ProbeVerdict


class TargetAddress(Model):
    typed: str  # as the user wrote it
    address: str  # the one IPv4 address it resolved to
    port: int


class TargetRamp(Model):
    step: int  # connections each step adds
    seconds: float  # held at each plateau before the next step


class TargetLayout(Model):
    sources: list[str]
    source_from: Literal["given", "host", "route"]  # listed, first N of the host's, routing
    pairs: int  # (source, destination) pairs, each with its own ports
    connect_workers: int
    per_worker: int
    nofile: int
    rate: int | None
    ramp: TargetRamp | None
    send: int
    connect_timeout: float
    # ephemeral ports already in use toward the targets at the start (None: not read)
    ports_in_use: int | None


class TargetPlateau(Model):
    step: int
    target: int
    established: int
    lost: int
    seconds: float


class TargetStop(Model):
    """The estimate's predicted stop beside the observed one."""

    predicted: int | None  # None: the client side allows all N
    predicted_limit: str | None
    observed: int | None  # None: all N were held
    observed_limit: str | None
    agrees: bool | None  # None: neither side names a client limit (nothing to compare)
    diff_percent: float | None


class ProbeTarget(Model):
    connections: int
    complete: bool  # all N established and still held at the end, no failure, all measured
    verdict: ProbeVerdict  # complete, stopped-short (exit 1), incomplete (exit 5)
    unverified: list[str]  # what it could not measure or read, each with why
    established: int
    held: int
    lost: int  # established, then closed or reset by the server
    connect_seconds: float
    rate: int
    hold_seconds: float
    targets: list[TargetAddress]
    layout: TargetLayout
    stopped_by: Cause | None  # what stopped the climb first
    causes: list[Cause]  # every failure by cause, the one that stopped it first
    symptoms: dict[str, int]  # counters that grew in this namespace (shared with others)
    plateaus: list[TargetPlateau]
    estimate: ProbeEstimate
    stop: TargetStop
    events: list[Failure]  # the failures as the coordinator saw them, in order
