"""`status` judged: how close each limit is, now. Pure functions over one reading (a
Snapshot, filled by ops/status.py from host/), the previous reading, and the host facts.

Which limits there are, what counts against each and where it is read come from the
catalogue (Key.usage): this module has the mechanics per kind of usage (a count for the
host, one per process, per listener, per destination), no table of keys. A row's verdict:
`hit` when one of its key's symptom counters grew since the previous reading (or since
boot, for the first), `at-limit` when used reaches the limit, `near` at 80 % (or past
tcp_mem's pressure), else `ok`. The fix of a row that is not ok is check's own
(model/check.check_target over a target that puts today's use at half the limit, or the
profile's target when that is higher): the same line `check` and `apply` give.
"""

from __future__ import annotations

import math

from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import Key, Usage
from tunekit.model.facts import HostFacts
from tunekit.model.status.fixes import fix
from tunekit.model.status.types import (
    Judged,
    ListenSocket,
    LogRow,
    Previous,
    Profiled,
    ProfileJudgement,
    Row,
    Snapshot,
    SocketStates,
    SymptomRow,
    Verdict,
)

NEAR = 0.8  # a row is near its limit from 80 % on
SEVERITY: dict[str, int] = {"hit": 0, "at-limit": 1, "near": 2, "ok": 3}


# --- the rows -----------------------------------------------------------------------------


def _limit(key: Key, facts: HostFacts, usage: Usage) -> tuple[int | None, int | None]:
    """(limit, near threshold) from the live value of the key."""
    values = facts.ints(key.name)
    if not values:
        return None, None
    if usage.index is not None:
        if len(values) <= usage.index:
            return None, None
        near = values[usage.near_index] if usage.near_index is not None else None
        return values[usage.index], near
    return values[0], None


def _verdict(used: int, limit: int | None, near_at: int | None, grown: bool) -> Verdict:
    if grown:
        return "hit"
    if limit is None or limit <= 0:
        return "ok"
    if used >= limit:
        return "at-limit"
    if used >= limit * NEAR or (near_at is not None and used >= near_at):
        return "near"
    return "ok"


def _grown(key: Key, snap: Snapshot, prev: Previous | None) -> dict[str, int]:
    out = {}
    for s in key.symptoms:
        now = snap.tables.get(s.table, {}).get(s.counter)
        if now is None:
            continue
        before = prev.tables.get(s.table, {}).get(s.counter, 0) if prev else 0
        out[s.counter] = max(0, now - before)
    return out


def _key_per(per: str) -> Key:
    """The key whose limit is one per process, listener or destination (the catalogue's
    Usage.per)."""
    return next(k for k in K.with_usage() if k.usage and k.usage.per == per)


def _resource(key: Key) -> str:
    return key.usage.resource if key.usage else key.name


def _row(resource: str, key: Key, used: int, limit: int | None, **kw) -> Row:
    percent = round(used / limit * 100, 1) if limit else None
    return Row(resource=resource, key=key.name, used=used, limit=limit, percent=percent, **kw)


def host_rows(snap: Snapshot, prev: Previous | None) -> list[Row]:
    """One row per catalogued key whose usage is a count for the host or namespace."""
    out = []
    for key in K.with_usage():
        usage = key.usage
        assert usage is not None
        if usage.per != "host":
            continue
        used = snap.tables.get(usage.table, {}).get(usage.field)
        if used is None:
            continue  # not on this host (conntrack not loaded): no row
        limit, near = _limit(key, snap.facts, usage)
        grown = _grown(key, snap, prev)
        row = _row(
            usage.resource,
            key,
            used,
            limit,
            near_at=near,
            unit=key.unit,
            symptoms=grown,
            verdict=_verdict(used, limit, near, any(grown.values())),
        )
        if limit is None:
            row.detail = (
                "its limit is not visible in this network namespace"
                if snap.facts.child_netns
                else "its limit could not be read"
            )
        out.append(row)
    return out


def listener_rows(snap: Snapshot, prev: Previous | None) -> list[Row]:
    """One row per (address, port): a SO_REUSEPORT group is one row with its member count;
    its used/limit are the fullest member's (each member's queue overflows on its own)."""
    key = _key_per("listener")
    groups: dict[tuple[str, int], list[ListenSocket]] = {}
    for sock in snap.listeners or []:
        groups.setdefault((sock.address, sock.port), []).append(sock)
    somaxconn = snap.facts.int_value(key.name)
    grown = _grown(key, snap, prev)
    out = []
    for (address, port), members in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0])):
        full = max(members, key=lambda s: s.queue / s.backlog if s.backlog else s.queue)
        owners = sorted({o for s in members for o in s.owners})
        verdict = _verdict(full.queue, full.backlog, None, False)
        if any(grown.values()) and verdict != "ok":
            verdict = "hit"  # the namespace's counters grew and this queue is (near) full
        detail = [] if owners else ["owner not found"]
        syn = snap.syn_recv_by_port.get(port)
        if syn:
            detail.append(f"{syn:,} in SYN_RECV")
        if somaxconn is not None and full.backlog >= somaxconn:
            detail.append("backlog capped by somaxconn")
        out.append(
            _row(
                _resource(key),
                key,
                full.queue,
                full.backlog,
                labels={"address": address, "port": str(port)},
                unit="connections",
                symptoms=grown if verdict == "hit" else {},
                verdict=verdict,
                members=len(members),
                owners=[f"{name} (pid {pid})" for pid, name in owners],
                detail="; ".join(detail),
            )
        )
    return out


def process_rows(snap: Snapshot, top: int) -> list[Row]:
    """The `top` processes closest to their own soft open-files limit."""
    key = _key_per("process")
    ranked = sorted(
        (p for p in snap.processes or [] if p.soft > 0),
        key=lambda p: (-p.count / p.soft, -p.count, p.pid),
    )
    return [
        _row(
            _resource(key),
            key,
            p.count,
            p.soft,
            labels={"pid": str(p.pid), "process": p.name},
            unit="descriptors",
            verdict=_verdict(p.count, p.soft, None, False),
            detail=f"hard limit {p.hard:,}" if p.hard is not None else "",
        )
        for p in ranked[:top]
    ]


def port_rows(snap: Snapshot, top: int) -> list[Row]:
    """The `top` busiest (source, destination) pairs against the usable port range."""
    key = _key_per("destination")
    usable = snap.facts.usable_ports()
    ranked = sorted((snap.ports or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    out = []
    for (src, dst, port), used in ranked[:top]:
        dest = f"[{dst}]:{port}" if ":" in dst else f"{dst}:{port}"
        out.append(
            _row(
                _resource(key),
                key,
                used,
                usable,
                labels={"source": src, "destination": dest},
                unit="ports",
                verdict=_verdict(used, usable, None, False),
            )
        )
    return out


def symptom_rows(snap: Snapshot, prev: Previous | None) -> list[SymptomRow]:
    out = []
    for name, (key, s) in K.symptoms().items():
        total = snap.tables.get(s.table, {}).get(name)
        if total is None:
            continue
        before = prev.tables.get(s.table, {}).get(name, 0) if prev else 0
        grown = max(0, total - before)
        out.append(
            SymptomRow(
                counter=name,
                table=s.table,
                key=key.name,
                total=total,
                grown=grown,
                meaning=s.meaning,
                verdict="hit" if grown else "ok",
            )
        )
    return out


def log_rows(snap: Snapshot) -> list[LogRow]:
    if snap.log is None:
        return []
    return [
        LogRow(text=text, key=key.name, count=snap.log.get(text, 0), meaning=meaning)
        for key, text, meaning in K.messages()
    ]


def socket_states(snap: Snapshot) -> SocketStates:
    tcp, tcp6, snmp = (snap.tables.get(t, {}) for t in ("TCP", "TCP6", "Tcp"))
    rare = snap.states or {}
    close_wait = rare.get("CLOSE_WAIT") if snap.states is not None else None
    curr = snmp.get("CurrEstab")
    established = curr - close_wait if curr is not None and close_wait is not None else None
    inuse = tcp.get("inuse")
    return SocketStates(
        established=max(0, established) if established is not None else None,
        syn_recv=rare.get("SYN_RECV") if snap.states is not None else None,
        time_wait=tcp.get("tw"),
        orphans=tcp.get("orphan"),
        close_wait=close_wait,
        others={k: v for k, v in rare.items() if k not in ("SYN_RECV", "CLOSE_WAIT")},
        inuse=inuse + tcp6.get("inuse", 0) if inuse is not None else None,
    )


# --- rates, profile, order ----------------------------------------------------------------


def add_rates(rows: list[Row], prev: Previous | None, now: float) -> None:
    """Rate since the previous reading, and when the limit is met at that rate."""
    if prev is None or now <= prev.at:
        return
    dt = now - prev.at
    for row in rows:
        before = prev.used.get(row.identity)
        if before is None:
            continue
        row.rate = round((row.used - before) / dt, 2)
        if row.rate > 0 and row.limit is not None and row.used < row.limit:
            row.seconds_to_limit = round((row.limit - row.used) / row.rate, 1)
        elif row.limit is not None and row.used >= row.limit:
            row.seconds_to_limit = 0.0


def add_profile(rows: list[Row], profiled: Profiled) -> None:
    """Each row against the profile's target for its key, and the load against the need
    the profile's workload has there (how far the load is from what the host was tuned
    for)."""
    for row in rows:
        key = K.lookup(row.key)
        if key.usage is not None and key.usage.per == "process":
            continue  # the profile's limit is its workload's process's, not every process's
        finding = _finding(profiled, row.key)
        need = profiled.needs.get(key.usage.need) if key.usage and key.usage.need else None
        if finding is None and need is None:
            continue
        row.profile = ProfileJudgement(
            profile=profiled.name,
            expected=finding.expected if finding else "",
            verdict=finding.verdict if finding else "no target",
            planned=need,
            load_percent=round(row.used / need * 100, 1) if need else None,
        )


def _finding(profiled: Profiled, name: str):
    if name in profiled.findings:
        return profiled.findings[name]
    return next((f for k, f in profiled.findings.items() if k.startswith(name + "[")), None)


def order(rows: list[Row]) -> list[Row]:
    """At-limit and hit first, then the nearest cliff at the current rate, then the
    fullest."""
    return sorted(
        rows,
        key=lambda r: (
            0 if r.verdict in ("hit", "at-limit") else 1,
            r.seconds_to_limit if r.seconds_to_limit is not None else math.inf,
            SEVERITY[r.verdict],
            -(r.percent or 0.0),
        ),
    )


def judge(
    snap: Snapshot, prev: Previous | None, top: int, profiled: Profiled | None = None
) -> Judged:
    """Every row of one reading, ordered; the rows not ok carry their fix (fixes.py)."""
    rows = host_rows(snap, prev) + listener_rows(snap, prev)
    rows += process_rows(snap, top) + port_rows(snap, top)
    add_rates(rows, prev, snap.at)
    if profiled is not None:
        add_profile(rows, profiled)
    for row in rows:
        if row.verdict != "ok":
            row.fix = fix(row, snap, profiled)
    used = {r.identity: r.used for r in rows}
    return Judged(
        rows=order(rows),
        symptoms=symptom_rows(snap, prev),
        log=log_rows(snap),
        sockets=socket_states(snap),
        previous=Previous(snap.at, used, snap.tables),
    )
