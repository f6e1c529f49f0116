"""Compare resolved targets with HostFacts: findings as data. Rendering is report.py's job."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tunekit import registry
from tunekit.capacity import Estimate
from tunekit.facts import HostFacts
from tunekit.profiles import Target

VERDICTS = ("pass", "fail", "warn", "missing", "unreadable", "not-applicable")


@dataclass
class Finding:
    key: str
    expected: str
    actual: str | None
    verdict: str
    reason: str
    source: str = ""
    fix: str = ""
    scope: str = ""
    target: dict | None = None  # the target as data (op, value, index)
    proposed: int | list[int] | None = None  # what apply would write


@dataclass
class CheckReport:
    profile: str
    profile_why: str
    connections: int
    role: str
    source: str
    findings: list[Finding] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    estimate: Estimate | None = None

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for f in self.findings if f.verdict == v) for v in VERDICTS}

    @property
    def compliant(self) -> bool:
        return not any(f.verdict == "fail" for f in self.findings)

    def to_dict(self) -> dict:
        return {
            "profile": self.profile, "profile_why": self.profile_why,
            "connections": self.connections, "role": self.role, "source": self.source,
            "compliant": self.compliant, "counts": self.counts(),
            "environment": self.environment,
            "findings": [asdict(f) for f in self.findings],
            "estimate": self.estimate.to_dict() if self.estimate else None,
        }


# --- comparison ---------------------------------------------------------------------


def _sym(op: str) -> str:
    return {"at_least": ">=", "at_most": "<=", "exactly": "=", "range": "in"}[op]


def describe(t: Target) -> str:
    value = t.value
    if registry.KEYS[t.key].shape == "range" and t.op == "at_least":
        lo, hi = value
        return f">= {hi - lo + 1:,} ports ({lo}-{hi})"
    if isinstance(value, list):
        text = (f"[{value[0]:,}, {value[1]:,}]" if t.op == "range"
                else " ".join(f"{v:,}" for v in value))
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


def satisfied(t: Target, actual: list[int], reserved: int = 0) -> bool:
    shape = registry.KEYS[t.key].shape
    if shape == "range":
        lo, hi = actual
        if t.op == "at_least":  # compares the usable width, reserved ports subtracted
            return hi - lo + 1 - reserved >= t.value[1] - t.value[0] + 1
        return actual == list(t.value)
    if t.index is not None:
        return _ok(t.op, actual[t.index], t.value)
    if isinstance(t.value, list) and t.op != "range":
        return all(_ok(t.op, a, w) for a, w in zip(actual, t.value))
    return _ok(t.op, actual[0], t.value)


def proposed_value(t: Target, actual: list[int] | None) -> int | list[int]:
    """What apply writes to satisfy `t`: never lower than what already satisfies 'at least'."""
    shape = registry.KEYS[t.key].shape
    if shape == "range":
        return list(t.value)
    if shape == "triple":
        base = list(actual) if actual and len(actual) == 3 else None
        if t.index is not None:
            if base is None:
                raise ValueError(f"{t.key}: current value needed to change element {t.index}")
            base[t.index] = _one(t.op, base[t.index], t.value)
            return _ascending(base)
        if base is None:
            return list(t.value)
        return _ascending([_one(t.op, a, w) for a, w in zip(base, t.value)])
    return _one(t.op, actual[0] if actual else None, t.value)


def _one(op: str, actual: int | None, want):
    if op == "at_least":
        return want if actual is None else max(actual, want)
    if op == "at_most":
        return want if actual is None else min(actual, want)
    if op == "exactly":
        return want
    lo, hi = want
    return lo if actual is None else min(max(actual, lo), hi)


def _ascending(triple: list[int]) -> list[int]:
    """min <= default <= max, as the kernel expects of tcp_mem, tcp_rmem and tcp_wmem."""
    a, b, c = triple
    b = max(a, b)
    return [a, b, max(b, c)]


def _fmt_actual(values: list[int]) -> str:
    return " ".join(f"{v:,}" for v in values)


# --- the check ----------------------------------------------------------------------


def check_target(t: Target, facts: HostFacts) -> Finding:
    key = registry.KEYS[t.key]
    f = Finding(key=t.label, expected=describe(t), actual=None, verdict="pass",
                reason=t.reason, source=t.source, scope=key.scope,
                target={"op": t.op, "value": t.value, "index": t.index})
    if key.kind == "rlimit":
        if facts.nofile is None:
            f.verdict = "unreadable"
            f.reason = "open-files limits are read from a live process; " + facts.source
            f.proposed = t.value if t.op != "range" else t.value[1]
            return f
        actual = [facts.nofile[0 if key.name.endswith("soft") else 1]]
        f.actual = f"{actual[0]:,} ({facts.nofile_of})"
    else:
        if t.key in facts.unreadable:
            f.verdict, f.actual = "unreadable", facts.unreadable[t.key]
            return f
        values = facts.ints(t.key)
        if values is None:
            f = _absent(f, key, facts)
            if t.index is None:  # what a drop-in for another root would carry
                f.proposed = proposed_value(t, None)
            return f
        actual = values
        f.actual = _fmt_actual(values)
    reserved = 0
    if key.shape == "range":
        lo, hi = actual
        reserved = sum(1 for p in facts.reserved_ports() if lo <= p <= hi)
        f.actual = f"{hi - lo + 1 - reserved:,} ports ({lo}-{hi}" + (
            f", {reserved} reserved)" if reserved else ")")
    if satisfied(t, actual, reserved):
        if key.shape == "range" and actual[0] % 2 == actual[1] % 2:
            f.verdict = "warn"
            f.reason = ("both ends have the same parity: since 4.6 connect() takes ports of the "
                        "low end's parity and bind(0) the others, so one side gets half the range")
            f.proposed = [actual[0] - 1 if actual[0] > 1024 else actual[0] + 1, actual[1]]
            f.fix = _sysctl_fix(t.key, f.proposed)
        return f
    f.verdict = "fail"
    f.proposed = proposed_value(t, actual)
    f.fix = _fix(key, f.proposed, facts)
    return f


def _absent(f: Finding, key: registry.Key, facts: HostFacts) -> Finding:
    if facts.source.startswith("snapshot"):
        f.verdict = "missing"
        f.actual = "not in the snapshot"
    elif key.module and facts.modules is not None and key.module not in facts.modules:
        f.verdict = "missing"
        f.actual = f"module {key.module} not loaded"
        f.fix = f"modprobe {key.module} (if this host should track connections)"
    elif key.scope == "global" and facts.child_netns:
        f.verdict = "not-applicable"
        f.actual = "not visible in this network namespace"
        f.reason = "global key, hidden inside a non-initial network namespace: audit it on the host"
    else:
        f.verdict = "missing"
        f.actual = f"absent on this kernel ({facts.kernel or 'version unknown'})"
    return f


def _sysctl_fix(name: str, value) -> str:
    text = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return f'sysctl -w {name}="{text}"' if " " in text else f"sysctl -w {name}={text}"


def _fix(key: registry.Key, value, facts: HostFacts) -> str:
    if key.kind == "rlimit":
        fix = (f"LimitNOFILE={value} in the service's unit (systemd), or nofile {value} in "
               "/etc/security/limits.d (login sessions)")
        if key.name.endswith("hard") and facts.cap_sys_resource is False:
            fix = ("cannot be raised from here: CAP_SYS_RESOURCE is missing (a container?); raise "
                   "it from outside, or spread connections over more processes; then " + fix)
        return fix
    if key.name == "net.netfilter.nf_conntrack_buckets":
        return f"echo {value} > /sys/module/nf_conntrack/parameters/hashsize"
    return _sysctl_fix(key.name, value)


def capacity_finding(est: Estimate) -> Finding:
    want = est.connections
    f = Finding(key="capacity", expected=f">= {want:,} connections", actual=None,
                verdict="unreadable", reason="no live limit could be read", scope="host")
    binding = est.binding
    if binding is None:
        return f
    f.actual = f"{binding.allows:,} (capped by {binding.name})"
    f.verdict = "pass" if binding.allows >= want else "fail"
    short = [lim.name for lim in est.limits if lim.allows < want]
    f.reason = (f"every live limit allows {want:,}" if not short else
                f"{len(short)} limit(s) below {want:,}: {', '.join(short)}; {binding.detail}")
    f.source = "tunekit estimate"
    return f


def environment(facts: HostFacts) -> list[str]:
    """What about this environment changes how the findings read."""
    out = list(facts.notes)
    if facts.cap_sys_resource is False and facts.nofile:
        out.append(f"CAP_SYS_RESOURCE is missing: the hard open-files limit cannot be raised "
                   f"above {facts.nofile[1]:,} from here (as in most containers)")
    if facts.proc_sys_writable is False:
        out.append("/proc/sys is read-only here: sysctls must be set by the host or the "
                   "container runtime")
    if facts.child_netns:
        out.append("read inside a non-initial network namespace: per-namespace keys are this "
                   "namespace's, not the host's; global keys such as tcp_mem are not visible")
    for name, value in facts.counters.items():
        if name in ("ListenOverflows", "ListenDrops", "TCPMemoryPressures") and value:
            out.append(f"symptom: TcpExt {name} = {value:,} since boot")
    return out


def run_check(targets: list[Target], facts: HostFacts, est: Estimate) -> list[Finding]:
    return [check_target(t, facts) for t in targets] + [capacity_finding(est)]
