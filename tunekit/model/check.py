"""Compare resolved targets with HostFacts: findings as data. Rendering is output/text.py's
job."""

from __future__ import annotations

from typing import Any, Literal, get_args

from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import Key
from tunekit.model import values
from tunekit.model.base import Model
from tunekit.model.capacity import Estimate
from tunekit.model.facts import HostFacts
from tunekit.model.profiles import Target

Verdict = Literal["pass", "fail", "warn", "missing", "unreadable", "not-applicable"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
# Targets that were not verified: absent, unreadable, or not visible from where tunekit ran
# (a global key inside a container, the workload's soft limit with no workload named). A
# check with any of them and no failure is INCOMPLETE, never COMPLIANT.
UNVERIFIED: tuple[Verdict, ...] = ("missing", "unreadable", "not-applicable")
Outcome = Literal["compliant", "not-compliant", "incomplete"]


class TargetRef(Model):
    """A target as data: what a script reads to know what was asked."""

    op: str
    value: Any  # a number, a list of numbers, or text, by the key's shape
    index: int | None = None


class Finding(Model):
    key: str
    expected: str
    actual: str | None
    verdict: Verdict
    reason: str
    source: str = ""
    fix: str = ""
    scope: str = ""
    target: TargetRef | None = None
    proposed: Any = None  # what apply would write: a number, numbers, text or port intervals


def outcome(findings: list[Finding]) -> Outcome:
    """compliant only when every target was read and passed (a warning passes)."""
    if any(f.verdict == "fail" for f in findings):
        return "not-compliant"
    if any(f.verdict in UNVERIFIED for f in findings) or not findings:
        return "incomplete"
    return "compliant"


def compliant(findings: list[Finding]) -> bool:
    return outcome(findings) == "compliant"


def unverified(findings: list[Finding]) -> list[str]:
    """Each target that was not verified, with why: what INCOMPLETE lists."""
    return [
        f"{f.key}: {f.verdict} ({f.actual if f.verdict == 'missing' else f.reason})"
        for f in findings
        if f.verdict in UNVERIFIED
    ]


def counts(findings: list[Finding]) -> dict[str, int]:
    return {v: sum(1 for f in findings if f.verdict == v) for v in VERDICTS}


# --- comparison ---------------------------------------------------------------------


def _sym(op: str) -> str:
    return {"at_least": ">=", "at_most": "<=", "exactly": "=", "range": "in"}[op]


def describe(t: Target) -> str:
    value: Any = t.value  # its type follows the key's shape
    shape = t.entry.shape
    if shape == "range" and t.op == "at_least":
        lo, hi = value
        return f">= {hi - lo + 1:,} ports ({lo}-{hi})"
    if shape == "portset":
        word = {"at_least": "reserves", "at_most": "reserves only", "exactly": "="}[t.op]
        return f"{word} {values.portset_text(values.parse_portset(value))}"
    if isinstance(value, str):
        return f"= {value}"
    if isinstance(value, list):
        text = (
            f"[{value[0]:,}, {value[1]:,}]"
            if t.op == "range"
            else " ".join(f"{v:,}" for v in value)
        )
    else:
        text = f"{value:,}"
    return f"{_sym(t.op)} {text}"


def _ok(op: str, actual: int, want) -> bool:
    if op == "at_least":
        return actual >= want
    if op == "at_most":
        return actual <= want
    if op == "exactly":
        return actual == want
    return want[0] <= actual <= want[1]


def satisfied(t: Target, actual, reserved: int = 0) -> bool:
    """Does the live value (parsed by values.parse) meet the target?"""
    want: Any = t.value  # its type follows the key's shape
    shape = t.entry.shape
    if shape == "string":
        return actual == " ".join(want.split())
    if shape == "portset":
        want = values.parse_portset(want)
        if t.op == "at_least":
            return values.contains(actual, want)
        if t.op == "at_most":
            return values.contains(want, actual)
        return actual == want
    actual = actual if isinstance(actual, list) else [actual]
    if shape == "range":
        lo, hi = actual
        if t.op == "at_least":  # compares the usable width, reserved ports subtracted
            return hi - lo + 1 - reserved >= want[1] - want[0] + 1
        return actual == list(want)
    if t.index is not None:
        return _ok(t.op, actual[t.index], want)
    if isinstance(want, list) and t.op != "range":
        if len(actual) != len(want):
            return False
        return all(_ok(t.op, a, w) for a, w in zip(actual, want, strict=True))
    return len(actual) == 1 and _ok(t.op, actual[0], want)


def proposed_value(t: Target, actual):
    """What apply writes to satisfy `t`, starting from `actual` (None: unknown): never lower
    than what already satisfies 'at least', never higher than what satisfies 'at most'."""
    want: Any = t.value  # its type follows the key's shape
    shape = t.entry.shape
    if shape == "string":
        return " ".join(want.split())
    if shape == "portset":
        want = values.parse_portset(want)
        if t.op == "at_least" and actual:
            return values.merge(actual + want)
        return want
    if shape == "range":
        return list(want)
    if isinstance(actual, int):
        actual = [actual]
    if shape == "triple":
        base = list(actual) if actual and len(actual) == 3 else None
        if t.index is not None:
            if base is None:
                raise ValueError(f"{t.key}: current value needed to change element {t.index}")
            base[t.index] = _one(t.op, base[t.index], want)
            return _ascending(base, t.index)
        if base is None:
            return list(want)
        return _ascending([_one(t.op, a, w) for a, w in zip(base, want, strict=False)])
    if isinstance(want, list) and t.op != "range":
        if not actual or len(actual) != len(want):
            return list(want)
        return [_one(t.op, a, w) for a, w in zip(actual, want, strict=False)]
    return _one(t.op, actual[0] if actual else None, want)


def _one(op: str, actual: int | None, want):
    if op == "at_least":
        return want if actual is None else max(actual, want)
    if op == "at_most":
        return want if actual is None else min(actual, want)
    if op == "exactly":
        return want
    lo, hi = want
    return lo if actual is None else min(max(actual, lo), hi)


def _ascending(triple: list[int], fixed: int | None = None) -> list[int]:
    """min <= default <= max, as the kernel expects of tcp_mem, tcp_rmem and tcp_wmem. The
    element a target set (`fixed`) stays; the others move to fit around it."""
    a, b, c = triple
    if fixed == 2:
        b, a = min(b, c), min(a, c)
        return [min(a, b), b, c]
    if fixed == 0:
        b = max(a, b)
        return [a, b, max(b, c)]
    b = max(a, b)
    return [a, b, max(b, c)]


def _fmt_actual(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return values.portset_text(value) or "(none)"
    if isinstance(value, list):
        return " ".join(f"{v:,}" for v in value)
    return f"{value:,}"


# --- the check ----------------------------------------------------------------------


def live_value(key: Key, facts: HostFacts):
    """The parsed live value of a sysctl, or None when absent; ValueError when it does not
    parse (a snapshot line 'a b c' where numbers belong)."""
    raw = facts.sysctls.get(key.name)
    if raw is None:
        return None
    if not key.known:  # a generic key takes its shape from the live value
        return raw if key.shape == "string" else values.parse_ints(raw)
    return values.parse(key, raw)


def check_target(t: Target, facts: HostFacts) -> Finding:
    key = t.entry
    f = Finding(
        key=t.label,
        expected=describe(t),
        actual=None,
        verdict="pass",
        reason=t.reason,
        source=t.source,
        scope=key.scope,
        target=TargetRef(op=t.op, value=t.value, index=t.index),
    )
    if key.kind == "rlimit":
        return _check_rlimit(t, key, f, facts)
    if t.key in facts.unreadable:
        f.verdict, f.actual = "unreadable", facts.unreadable[t.key]
        if t.index is None:  # what a drop-in for another root would carry, as for an absent key
            f.proposed = proposed_value(t, None)
        return f
    try:
        actual = live_value(key, facts)
    except ValueError as err:
        f.verdict = "unreadable"
        f.actual = f"invalid value {facts.sysctls[key.name][:40]!r}: {err}"
        if t.index is None:
            f.proposed = proposed_value(t, None)
        return f
    if actual is None:
        f = _absent(f, key, facts)
        if t.index is None:  # what a drop-in for another root would carry
            f.proposed = proposed_value(t, None)
        return f
    f.actual = _fmt_actual(actual)
    reserved = 0
    if key.shape == "range":
        lo, hi = actual
        reserved = values.count_in(facts.reserved_ports(), lo, hi)
        f.actual = f"{hi - lo + 1 - reserved:,} ports ({lo}-{hi}" + (
            f", {reserved} reserved)" if reserved else ")"
        )
    if satisfied(t, actual, reserved):
        if key.parity and actual[0] % 2 == actual[1] % 2:
            f.verdict = "warn"
            f.reason = (
                "both ends have the same parity: connect() tries the low end's parity first "
                "and then the other, bind(0) prefers the other parity, so both still use the "
                'whole range, but one port is never picked and the kernel logs "prefer '
                'different parity for start/end values" (inet_hashtables.c __inet_hash_connect)'
            )
            f.proposed = [actual[0] - 1 if actual[0] > 1024 else actual[0] + 1, actual[1]]
            f.fix = _fix(key, f.proposed, facts)
        return f
    f.verdict = "fail"
    f.proposed = proposed_value(t, actual)
    f.fix = _fix(key, f.proposed, facts)
    return f


def _check_rlimit(t: Target, key: Key, f: Finding, facts: HostFacts) -> Finding:
    hard = key is K.NOFILE_HARD
    want: Any = t.value
    wanted = want[1] if t.op == "range" else want  # the limit a drop-in would carry
    if facts.nofile is None:
        f.verdict = "unreadable"
        f.reason = "open-files limits are read from a live process; " + facts.source
        f.proposed = wanted
        return f
    if not hard and not facts.nofile_is_workload:
        f.verdict = "not-applicable"
        f.actual = f"{facts.nofile[0]:,} ({facts.nofile_of})"
        f.reason = (
            "the soft limit is the workload's own: a program raises it up to the hard "
            "limit itself (setrlimit), or its unit sets LimitNOFILE=; audit it with "
            "--pid, --process or --unit"
        )
        f.proposed = wanted
        return f
    actual = facts.nofile[1 if hard else 0]
    f.actual = f"{actual:,} ({facts.nofile_of})"
    if satisfied(t, actual):
        return f
    f.verdict = "fail"
    f.proposed = proposed_value(t, actual)
    f.fix = _fix(key, f.proposed, facts)
    return f


def _absent(f: Finding, key: Key, facts: HostFacts) -> Finding:
    if facts.source.startswith("snapshot"):
        f.verdict = "missing"
        f.actual = "not in the snapshot"
    elif key.module and facts.modules is not None and key.module not in facts.modules:
        f.verdict = "missing"
        f.actual = f"module {key.module} not loaded"
        f.fix = f"modprobe {key.module} (if this host should track connections)"
    elif key.scope in ("global", "unknown") and key.name.startswith("net.") and facts.child_netns:
        # only the net tree is per network namespace: fs.* and kernel.* are seen in every one
        f.verdict = "not-applicable" if key.scope == "global" else "missing"
        f.actual = "not visible in this network namespace"
        f.reason = (
            "global key, hidden inside a non-initial network namespace: audit it on the host"
            if key.scope == "global"
            else "absent here; a global key is hidden inside a non-initial network namespace"
        )
    else:
        f.verdict = "missing"
        f.actual = f"absent on this kernel ({facts.kernel or 'version unknown'})"
    return f


def _fix(key: Key, value, facts: HostFacts) -> str:
    if key.kind == "rlimit":
        fix = (
            f"LimitNOFILE={value} in the service's unit (systemd), or nofile {value} in "
            "/etc/security/limits.d (login sessions)"
        )
        if key is K.NOFILE_HARD and facts.cap_sys_resource is False:
            fix = (
                "cannot be raised from here: CAP_SYS_RESOURCE is missing (a container?); raise "
                "it from outside, or spread connections over more processes; then " + fix
            )
        return fix
    text = values.text(value)
    if key.write_path:
        return f"echo {text} > /{key.write_path}"
    return f'sysctl -w {key.name}="{text}"' if " " in text else f"sysctl -w {key.name}={text}"


def capacity_finding(est: Estimate) -> Finding:
    want = est.connections
    f = Finding(
        key="capacity",
        expected=f">= {want:,} connections",
        actual=None,
        verdict="unreadable",
        reason="no live limit could be read",
        scope="host",
    )
    binding = est.binding
    if binding is None:
        return f
    f.actual = f"{binding.allows:,} (capped by {binding.name})"
    f.verdict = "pass" if binding.allows >= want else "fail"
    short = [lim.name for lim in est.limits if lim.allows < want]
    f.reason = (
        f"every live limit allows {want:,}"
        if not short
        else f"{len(short)} limit(s) below {want:,}: {', '.join(short)}; {binding.detail}"
    )
    f.source = "tunekit estimate"
    return f


def fit_finding(est: Estimate) -> Finding | None:
    """The workload against this host's memory: what no tuning can lift."""
    if not est.unfit:
        return None
    return Finding(
        key="memory",
        expected=f"{est.connections:,} connections fit in RAM",
        actual="does not fit",
        verdict="fail",
        reason="; ".join(est.unfit),
        source="tunekit estimate",
        scope="host",
        fix="fewer connections per host, fewer buffered bytes per connection, or more memory",
    )


def environment(facts: HostFacts) -> list[str]:
    """What about this environment changes how the findings read."""
    out = list(facts.notes)
    if facts.cap_sys_resource is False and facts.nofile:
        out.append(
            f"CAP_SYS_RESOURCE is missing: the hard open-files limit cannot be raised "
            f"above {facts.nofile[1]:,} from here (as in most containers)"
        )
    if facts.proc_sys_writable is False:
        out.append(
            "/proc/sys is read-only here: sysctls must be set by the host or the container runtime"
        )
    if facts.child_netns:
        out.append(
            "read inside a non-initial network namespace: per-namespace keys are this "
            "namespace's, not the host's; global keys such as tcp_mem are not visible"
        )
    if facts.mem_total is None:
        out.append(
            "physical memory unknown: tcp_mem max is not judged against it (give "
            "--mem-total with --snapshot)"
        )
    symptoms = K.symptoms()
    for name, value in facts.counters.items():
        if name in symptoms and value:
            key, symptom = symptoms[name]
            out.append(f"symptom: {symptom.table} {name} = {value:,} since boot: {symptom.meaning}")
    return out


def run_check(targets: list[Target], facts: HostFacts, est: Estimate) -> list[Finding]:
    fit = fit_finding(est)
    return (
        [check_target(t, facts) for t in targets] + [capacity_finding(est)] + ([fit] if fit else [])
    )
