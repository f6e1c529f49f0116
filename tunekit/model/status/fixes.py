"""The one-line fix of a status row that is not ok: check's own line, not a new one.

Each fix is model/check.check_target over a target for the row's key, so the text is
exactly what `check` and `apply --dry-run` print for the same value. The value puts
today's use at half the limit (twice the use; twice the limit when a symptom grew below
it), never below the profile's own target when a PROFILE is given, never below the live
value (check's proposed_value never lowers an "at least"), and within the bounds the
kernel accepts. Which kind of fix follows from the catalogue's Usage.per:
- host: the key itself (a triple keeps its shape: every element scaled);
- process: the process's own soft limit (LimitNOFILE=, limits.d), as check says it;
- listener: somaxconn when the backlog is capped by it, else the application's backlog;
- destination: the widest port range, else more source addresses (Usage.beyond).
"""

from __future__ import annotations

import math
from dataclasses import replace

from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import Key
from tunekit.model.capacity import FULL_PORT_RANGE, tcp_mem_cap
from tunekit.model.check import check_target
from tunekit.model.constants import constants
from tunekit.model.facts import HostFacts
from tunekit.model.profiles import Target
from tunekit.model.status.types import Profiled, Row, Snapshot

SOURCE = "tunekit status"


def _target(key: Key, value, why: str) -> Target:
    return Target(key=key.name, op="at_least", value=value, reason=why, source=SOURCE)


def _line(key: Key, value, facts: HostFacts, why: str) -> str:
    finding = check_target(_target(key, value, why), facts)
    return finding.fix


def _bounded(key: Key, value: int) -> int:
    value = max(value, key.minimum or 0)
    return min(value, key.maximum) if key.maximum is not None else value


def _profile_floor(key: Key, profiled: Profiled | None) -> int:
    """The profile's own "at least" value for the key, where it has a plain int one."""
    if profiled is None:
        return 0
    t = profiled.targets.get(key.name)
    return t.value if t is not None and t.op == "at_least" and isinstance(t.value, int) else 0


def _why(row: Row) -> str:
    return f"status: {row.used:,} of {row.limit or 0:,} in use ({row.verdict})"


def _wanted(row: Row) -> int:
    base = max(row.used, row.limit or 0) if row.verdict == "hit" else row.used
    return max(2 * base, 1)


def host_fix(row: Row, key: Key, facts: HostFacts, profiled: Profiled | None) -> str:
    usage = key.usage
    if key.shape == "triple" and usage is not None and usage.index is not None:
        current = facts.ints(key.name)
        if not current or len(current) != 3 or not current[usage.index]:
            return ""
        # use at half the threshold where the kernel starts to act (tcp_mem: pressure)
        at = usage.near_index if usage.near_index is not None else usage.index
        if not current[at]:
            return ""
        factor = _wanted(row) / current[at]
        triple = [math.ceil(v * factor) for v in current]
        cap = tcp_mem_cap(facts, constants({})) if key.unit == "pages" else None
        if cap is not None and triple[usage.index] > cap:
            # tunekit's policy for tcp_mem (not a kernel rule): at most half of RAM
            scale = max(cap, current[usage.index]) / triple[usage.index]
            triple = [max(c, math.floor(v * scale)) for v, c in zip(triple, current, strict=True)]
        return _line(key, triple, facts, _why(row))
    value = _bounded(key, max(_wanted(row), _profile_floor(key, profiled)))
    return _line(key, value, facts, _why(row))


def process_fix(row: Row, key: Key, snap: Snapshot) -> str:
    facts = snap.facts
    pid, name = row.labels.get("pid", "?"), row.labels.get("process", "?")
    hard = next((p.hard for p in snap.processes or [] if str(p.pid) == pid), None)
    theirs = replace(
        facts,
        nofile=(row.limit or 0, hard if hard is not None else row.limit or 0),
        nofile_of=f"pid {pid} ({name})",
        nofile_is_workload=True,
    )
    value = _bounded(key, _wanted(row))
    line = _line(key, value, theirs, _why(row))
    if hard is not None and value <= hard:
        line = (
            f"the program may raise its own soft limit up to its hard limit {hard:,} "
            f"(setrlimit); or {line}"
        )
    return line


def listener_fix(row: Row, key: Key, facts: HostFacts, profiled: Profiled | None) -> str:
    somaxconn = facts.int_value(key.name)
    backlog = row.limit or 0
    if somaxconn is not None and backlog < somaxconn and key.usage is not None:
        return key.usage.beyond
    value = _bounded(key, max(2 * max(backlog, 1), _profile_floor(key, profiled)))
    return _line(key, value, facts, _why(row))


def ports_fix(row: Row, key: Key, facts: HostFacts) -> str:
    widest = FULL_PORT_RANGE[1] - FULL_PORT_RANGE[0] + 1
    live = facts.ints(key.name)
    if live and len(live) == 2 and live[1] - live[0] + 1 >= widest and key.usage is not None:
        return key.usage.beyond
    line = _line(key, list(FULL_PORT_RANGE), facts, _why(row))
    beyond = key.usage.beyond.split(": ", 1)[-1] if key.usage else ""
    return f"{line}; beyond {widest:,} ports: {beyond}" if beyond else line


def fix(row: Row, snap: Snapshot, profiled: Profiled | None) -> str:
    key = K.lookup(row.key)
    if key.usage is None:
        return ""
    per = key.usage.per
    if per == "process":
        return process_fix(row, key, snap)
    if per == "listener":
        return listener_fix(row, key, snap.facts, profiled)
    if per == "destination":
        return ports_fix(row, key, snap.facts)
    return host_fix(row, key, snap.facts, profiled)
