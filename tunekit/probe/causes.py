"""probe --target: what stopped the climb against a real server, as pure functions over
what the coordinator counted.

Every failure is a cause: the errno (or "timeout", or "closed" for a connection the server
ended after it was established), the operation it came from, on which side the limit is,
the limit, how many times and toward which destinations, and the fix. The limits on this
client are the catalogue's (K.errnos()); the ones on the server's side are not this host's
keys, so they are described here, with the server's keys named through the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tunekit.knowledge import catalogue as K
from tunekit.model.base import Model

Side = Literal["client", "server", "network", "unknown"]

# Seen from the client, a server (or something on the way) that is not keeping up.
_SERVER = "the server's side"
SERVER_ERRNOS: dict[str, tuple[Side, str, str]] = {
    "timeout": (
        "server",
        _SERVER,
        "the handshake did not complete within --connect-timeout: the SYN or the SYN-ACK "
        "was dropped",
    ),
    "ETIMEDOUT": (
        "server",
        _SERVER,
        "SYN retries exhausted: the server never answered (this side's SYN retry count "
        "only sets how long that takes)",
    ),
    "ECONNREFUSED": (
        "server",
        _SERVER,
        "refused: nothing listens there, or the server or a firewall answered with a reset",
    ),
    "ECONNRESET": ("server", _SERVER, "reset by the server (or something between)"),
    "EPIPE": ("server", _SERVER, "the server had already closed the connection"),
    "EHOSTUNREACH": ("network", "the route to the server", "no route to the server's host"),
    "ENETUNREACH": ("network", "the route to the server", "no route to the server's network"),
}
# Kinds a held connection ends with (the worker's watch): a FIN, or an errno in SO_ERROR.
CLOSED = "closed"
MEMORY_ERRNOS = ("ENOBUFS", "ENOMEM")
# Counters that grow on the client when the server side drops: not a limit of this host.
SERVER_COUNTERS = {
    "TCPSynRetrans": "SYNs retransmitted: the server (or something between) did not answer in time",
}


@dataclass
class Context:
    """The live numbers a fix names (read by the use case, before the run)."""

    sources: int
    destinations: int
    port_range: tuple[int, int] | None
    usable_ports: int | None
    nofile: int
    nofile_hard: int
    processes: int
    file_max: int | None
    tcp_mem: list[int] | None
    mem_available: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Cause(Model):
    """One cause of failure, with its counts: what the report lists, first what stopped it."""

    kind: str  # errno name, "timeout", "closed" (the server ended it), or a counter
    op: str  # socket, bind, connect, send, hold (after establishing), counter
    side: Side
    key: str | None  # the catalogue key whose limit it is (on this client), if one
    limit: str  # the limit, in words
    count: int
    by_destination: dict[str, int]
    by_source: dict[str, int]
    at_connections: int  # established when it was first seen
    seconds: float  # since the first connect
    meaning: str
    fix: str


def classify(kind: str, op: str) -> tuple[Side, str | None, str, str]:
    """(side, key, limit, meaning) of a failure."""
    if op == "hold":
        return (
            "server",
            None,
            "the server closed established connections",
            "reset by the server after it was established"
            if kind != CLOSED
            else "the server ended it (FIN) after it was established",
        )
    if kind == "worker_died":
        return (
            "client",
            None,
            "a probe worker",
            "a worker process died, and the connections it held with it",
        )
    if op == "bind" and kind == "EADDRNOTAVAIL":
        return ("client", None, "the source address", "the source address is not on this host")
    if kind in MEMORY_ERRNOS:
        return (
            "client",
            "memory",
            f"TCP buffer memory ({K.TCP_MEM.name}) or memory",
            "the kernel could not allocate socket memory",
        )
    known = K.errnos().get(kind)
    if known:
        key, meaning = known
        return ("client", key.name, key.name, meaning)
    if kind in SERVER_ERRNOS:
        side, limit, meaning = SERVER_ERRNOS[kind]
        return (side, None, limit, meaning)
    return ("unknown", None, "unknown", "an unexpected error")


def fix_for(kind: str, op: str, key: str | None, ctx: Context) -> str:
    """What to change, with the live numbers."""
    side = classify(kind, op)[0]
    if key == K.PORT_RANGE.name:
        lo, hi = ctx.port_range or (0, 0)
        total = (ctx.usable_ports or 0) * ctx.sources * ctx.destinations
        return (
            f"each (source, destination) pair has {ctx.usable_ports or 0:,} ports "
            f"({key} {lo}-{hi}): x {ctx.sources} source address(es) x {ctx.destinations} "
            f"destination(s) = {total:,}. Widen {key}, add source addresses "
            "(--source-ips, on an interface of this host), or more destinations"
        )
    if key in (K.NOFILE_SOFT.name, K.NOFILE_HARD.name):
        return (
            f"each of {ctx.processes} process(es) may open {ctx.nofile:,} files "
            f"(soft; hard {ctx.nofile_hard:,}): raise the soft limit up to the hard one "
            "(ulimit -n), or spread the connections over more processes"
        )
    if key == K.FILE_MAX.name:
        return (
            f"{key} ({ctx.file_max or 0:,}) caps the open files of the whole host: raise it "
            "(tunekit apply client-flood)"
        )
    if key == "memory":
        tcp_mem = " ".join(str(v) for v in ctx.tcp_mem) if ctx.tcp_mem else "not readable here"
        return (
            f"{K.TCP_MEM.name} ({tcp_mem} pages) or memory itself: "
            "tunekit estimate --role client says which binds"
        )
    if op == "bind":
        return "bind only addresses of this host: ip -4 addr lists them"
    if kind == "worker_died":
        return "the OOM killer, or a signal: see dmesg and the probe's events"
    if side == "server" and op == "hold":
        return (
            "on the server: its idle timeout (HAProxy: timeout client), its connection "
            "limit (maxconn), its open-files limit; `tunekit status` there shows its headroom"
        )
    if side == "server":
        return (
            "on the server: its accept queue (the listen backlog, capped by its "
            f"{K.SOMAXCONN.name}), its accept rate or connection limit (HAProxy: maxconn), "
            "SYN drops (TcpExt ListenOverflows and ListenDrops there: `tunekit status`), or "
            f"a conntrack table in between ({K.CONNTRACK_MAX.name} on a firewall or NAT)"
        )
    if side == "network":
        return "check the route from this host to the target (ip route get ADDRESS)"
    return "see the errno in connect(2) and socket(7)"


@dataclass
class Seen:
    """When a kind of failure was first seen, by the coordinator's clock."""

    at_connections: int
    seconds: float


def causes(
    rows: list[list], seen: dict[tuple[str, str], Seen], first: tuple[str, str] | None, ctx
) -> list[Cause]:
    """Failure rows [kind, op, source, destination, count] from every worker, as one cause
    per (kind, op): the one that stopped the climb first, then by count."""
    grouped: dict[tuple[str, str], list[list]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(row)
    out = []
    for (kind, op), group in grouped.items():
        side, key, limit, meaning = classify(kind, op)
        by_dst: dict[str, int] = {}
        by_src: dict[str, int] = {}
        for _, _, src, dst, n in group:
            if dst != "-":  # "-": not toward a destination (a worker that died)
                by_dst[dst] = by_dst.get(dst, 0) + n
                by_src[src] = by_src.get(src, 0) + n
        when = seen.get((kind, op), Seen(0, 0.0))
        out.append(
            Cause(
                kind=kind,
                op=op,
                side=side,
                key=key,
                limit=limit,
                count=sum(row[4] for row in group),
                by_destination=dict(sorted(by_dst.items())),
                by_source=dict(sorted(by_src.items())),
                at_connections=when.at_connections,
                seconds=round(when.seconds, 3),
                meaning=meaning,
                fix=fix_for(kind, op, key, ctx),
            )
        )
    out.sort(key=lambda c: ((c.kind, c.op) != first, c.seconds, -c.count))
    return out


def server_symptoms(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """SERVER_COUNTERS that grew: {name: growth}."""
    return {
        name: after.get(name, 0) - before.get(name, 0)
        for name in SERVER_COUNTERS
        if after.get(name, 0) > before.get(name, 0)
    }


def result(lay, out, est, ctx: Context, targets, source_from: str, options: dict):
    """The report of probe --target, the typed document (documents.ProbeTarget). `out` is
    a client.TargetOutcome, `est` the client-side capacity.Estimate for the same layout,
    `options` the run's rate, ramp, send and connect_timeout."""
    from tunekit.output.documents.probe_target import ProbeTarget
    from tunekit.probe.verdicts import percent_diff, probe_verdict

    found = causes(out.rows(), out.seen, out.first, ctx)
    stopped = found[0] if found and out.first else None
    binding = est.binding
    predicted = binding.allows if binding and binding.allows < lay.conns else None
    short = out.established < lay.conns
    agrees = None
    if predicted is not None or (stopped is not None and stopped.key is not None):
        agrees = bool(stopped and predicted is not None and _same_limit(stopped.key, binding.key))
    ramp = options.get("ramp")
    # established, held and lost are counted on the workers' own sockets: always measured.
    # What the report compares them with can rest on a figure that was not read.
    unverified = list(options.get("unverified", []))
    held_all = not found and out.established >= lay.conns and out.held >= lay.conns
    verdict = probe_verdict(not held_all, unverified)
    return ProbeTarget.model_validate(
        {
            "connections": lay.conns,
            "complete": verdict == "complete",
            "verdict": verdict,
            "unverified": unverified,
            "established": out.established,
            "held": out.held,
            "lost": out.lost,
            "connect_seconds": round(out.connect_seconds, 3),
            "rate": round(out.rate),
            "hold_seconds": round(out.hold_seconds, 1),
            "targets": [{"typed": t.typed, "address": t.address, "port": t.port} for t in targets],
            "layout": {
                "sources": lay.sources,
                "source_from": source_from,
                "pairs": len(lay.all_pairs()),
                "connect_workers": len(lay.connectors),
                "per_worker": lay.per_worker,
                "nofile": lay.nofile,
                "rate": options.get("rate"),
                "ramp": {"step": ramp.step, "seconds": ramp.seconds} if ramp else None,
                "send": options.get("send", 0),
                "connect_timeout": options.get("connect_timeout", 0.0),
                "ports_in_use": options.get("ports_in_use"),
            },
            "stopped_by": stopped,
            "causes": found,
            "symptoms": out.symptoms,
            "plateaus": [vars(p) for p in out.plateaus],
            "estimate": {
                "binding": binding,
                "predicted_stop": predicted,
                "agrees": agrees,
                "limits": est.limits[:4],
            },
            "stop": {
                "predicted": predicted,
                "predicted_limit": binding.name if predicted is not None else None,
                "observed": out.held if short or stopped else None,
                "observed_limit": stopped.limit if stopped else None,
                "agrees": agrees,
                "diff_percent": (
                    percent_diff(predicted, out.held)
                    if predicted is not None and (short or stopped)
                    else None
                ),
            },
            "events": out.events,
        }
    )


def _same_limit(found: str | None, predicted: str | None) -> bool:
    """EMFILE names the soft open-files limit; the estimate may bind on the hard one."""
    nofile = {K.NOFILE_SOFT.name, K.NOFILE_HARD.name}
    return found == predicted or (found in nofile and predicted in nofile)
