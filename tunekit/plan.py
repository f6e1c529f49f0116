"""The plan: every runtime write and the exact contents of every file apply would write.

Pure: built from findings and facts, validated before anything is written. `apply --dry-run`
prints it and `apply` executes it; both come from build_plan.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tunekit import registry, values
from tunekit.bootset import SYSCTL_CONF, SYSCTL_DIRS, search_order
from tunekit.check import Finding, live_value, proposed_value, satisfied
from tunekit.errors import UsageError
from tunekit.facts import HostFacts
from tunekit.profiles import Target

SYSCTL_FILE = "etc/sysctl.d/90-tunekit.conf"
LIMITS_FILE = "etc/security/limits.d/90-tunekit.conf"
SYSTEMD_FILE = "etc/systemd/system.conf.d/90-tunekit.conf"
MODPROBE_DIR = "etc/modprobe.d"
DEFAULT_SOFT = 1024  # FD_SETSIZE: the soft limit every process but the workload keeps

# The boot's sysctl search path and its order: bootset.py (sysctl.d(5)).
_VALUE_RE = re.compile(r"^[A-Za-z0-9_.,:+-]+( [A-Za-z0-9_.,:+-]+)*$")


def modprobe_file(module: str) -> str:
    return f"{MODPROBE_DIR}/tunekit-{module}.conf"


def unit_file(unit: str) -> str:
    return f"etc/systemd/system/{unit_full_name(unit)}.d/90-tunekit.conf"


def drop_in_paths(unit: str | None = None) -> list[str]:
    """Every file apply may write (relative to the root); rollback touches no other."""
    modules = sorted({k.module for k in registry.KEYS.values() if k.module})
    paths = [SYSCTL_FILE, LIMITS_FILE, SYSTEMD_FILE] + [modprobe_file(m) for m in modules]
    return paths + ([unit_file(unit)] if unit else [])


def unit_full_name(unit: str) -> str:
    return unit if "." in unit else unit + ".service"


@dataclass
class Change:
    key: str
    kind: Literal["sysctl", "rlimit"]  # a /proc/sys or /sys/module file, or a pid's limit
    path: str  # relative to the root, or "pid N" for an rlimit
    old: str
    new: str
    reason: str


@dataclass
class FileWrite:
    path: str  # relative to the root
    content: str
    old: str | None = None  # current contents; None when the file does not exist


@dataclass
class Plan:
    profile: str
    profile_why: str
    root: str
    changes: list[Change] = field(default_factory=list)
    files: list[FileWrite] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unfit: list[str] = field(default_factory=list)  # why the workload cannot fit this host

    @property
    def empty(self) -> bool:
        return not self.changes and not any(f.content != f.old for f in self.files)

    def to_dict(self) -> dict:
        return {
            "profile": self.profile,
            "profile_why": self.profile_why,
            "root": self.root,
            "changes": [asdict(c) for c in self.changes],
            "files": [{**asdict(f), "changed": f.content != f.old} for f in self.files],
            "left_alone": self.left_alone,
            "conflicts": self.conflicts,
            "unfit": self.unfit,
        }


def text(value) -> str:
    return values.text(value)


@dataclass
class Options:
    scope: str = "all"  # "all" or "namespace"
    pid: int | None = None
    unit: str | None = None
    persist: bool = True
    soft_everywhere: bool = False  # the profile asks for the soft limit everywhere


@dataclass
class _Write:
    """What the plan decided for one key: its new value, and the findings behind it."""

    key: registry.Key
    value: Any  # int, list of ints, text, or port intervals, by the key's shape
    findings: list[Finding]
    runtime: bool  # False: the key is absent under the root, so only persisted

    @property
    def reason(self) -> str:
        return "; ".join(f.reason for f in self.findings if f.verdict != "pass")

    @property
    def source(self) -> str:
        return "; ".join(dict.fromkeys(f.source for f in self.findings if f.source))


def _target(f: Finding, key: registry.Key) -> Target:
    return Target.model_validate(
        {**(f.target or {}), "key": key.name, "reason": f.reason or "-", "source": f.source or "-"}
    )


def _decide(key: registry.Key, findings: list[Finding], facts: HostFacts) -> object:
    """One value for `key` that meets every target on it, starting from the live value:
    each target moves it as little as it must. Contradictory targets are refused."""
    try:
        value = live_value(key, facts)
    except ValueError:
        value = None
    targets = [_target(f, key) for f in findings if f.target]
    for t in targets:
        if value is None or not satisfied(t, value, _reserved(key, value, facts)):
            value = proposed_value(t, value)
    broken = [t.label for t in targets if not satisfied(t, value, _reserved(key, value, facts))]
    if broken:
        raise UsageError(
            f"{key.name}: the targets contradict each other "
            f"({', '.join(f.expected for f in findings)}); no value meets them all",
            "pin one target for this key in the profile",
        )
    return value


def _reserved(key: registry.Key, value, facts: HostFacts) -> int:
    if key.shape != "range" or not isinstance(value, list):
        return 0
    return values.count_in(facts.reserved_ports(), value[0], value[1])


def build_plan(
    findings: list[Finding],
    facts: HostFacts,
    profile: str,
    why: str,
    root: str,
    opts: Options,
    existing: dict[str, str | None],
) -> Plan:
    """`existing` maps each file path apply may write to its current contents (or None)."""
    plan = Plan(profile=profile, profile_why=why, root=root)
    live = facts.source == "live"
    # Under another root (an image, a chroot) a key absent there is still persisted.
    persist_only = {"missing", "unreadable"} if not live and opts.persist else set()
    by_key: dict[str, list[Finding]] = {}  # the findings of targets, by key
    for f in findings:
        if f.target is not None:
            by_key.setdefault(f.key.split("[")[0], []).append(f)
    writes: list[_Write] = []
    nofile: dict[str, _Write] = {}
    absent: list[str] = []
    for name, group in by_key.items():
        value_of = [(f.target or {}).get("value") for f in group]
        key = registry.generic_shape(registry.lookup(name), value_of[0])
        acting = [
            f
            for f in group
            if f.verdict == "fail" or (f.verdict in persist_only and f.proposed is not None)
        ]
        if key.kind == "rlimit":  # the pair is decided from the targets' values: _nofile
            wanted = [v for v in value_of if isinstance(v, int)]
            nofile[name] = _Write(key, max(wanted, default=0), acting, bool(acting))
            continue
        if not acting:
            continue
        # an unknown key that is visible inside this child namespace is the namespace's own
        ours = key.scope == "netns" or (
            key.scope == "unknown" and bool(facts.child_netns) and key.name in facts.sysctls
        )
        if opts.scope == "namespace" and not ours:
            plan.left_alone.append(
                f"{key.name}: {key.scope} key, left to the host (--scope namespace)"
            )
            continue
        runtime = any(f.verdict == "fail" for f in acting)
        writes.append(_Write(key, _decide(key, group, facts), acting, runtime))
        if not runtime:
            absent.append(key.name)
    writes.sort(key=lambda w: (w.key.order, list(by_key).index(w.key.name)))
    for w in writes:
        if w.runtime:
            plan.changes.append(
                Change(
                    w.key.name,
                    "sysctl",
                    w.key.runtime_path,
                    facts.sysctls.get(w.key.name, ""),
                    text(w.value),
                    w.reason,
                )
            )
    if absent:
        plan.left_alone.append(
            f"not present under {root}, so written to the drop-in only: " + ", ".join(absent)
        )
    pair = _nofile(nofile, facts, opts, plan)
    validate(plan.changes, facts, [(w.key, text(w.value)) for w in writes], pair)
    if opts.persist:
        plan.files = _files(writes, pair, nofile, profile, opts, existing)
    return plan


def _nofile(
    nofile: dict[str, _Write], facts: HostFacts, opts: Options, plan: Plan
) -> tuple[int, int] | None:
    """(soft, hard) for the workload. The hard limit is raised for everyone; the soft one
    only where the workload lives (--pid, --unit) unless the profile asks otherwise."""
    if not nofile:
        return None
    hard_w, soft_w = nofile.get(registry.NOFILE_HARD.name), nofile.get(registry.NOFILE_SOFT.name)
    if hard_w and soft_w and soft_w.value > hard_w.value:
        raise UsageError(
            f"open-files soft limit {soft_w.value} above the hard limit "
            f"{hard_w.value}: the kernel refuses it (EINVAL), and tunekit will not "
            "raise the hard limit silently",
            "make the soft target <= the hard one",
        )
    live = facts.nofile or (0, 0)
    hard = max(hard_w.value if hard_w else 0, soft_w.value if soft_w else 0, live[1])
    soft = max(soft_w.value if soft_w else 0, live[0] if facts.nofile_is_workload else 0)
    if opts.pid is not None and (hard_w and hard_w.runtime or soft_w and soft_w.runtime):
        plan.changes.append(
            Change(
                "rlimit.nofile",
                "rlimit",
                f"pid {opts.pid}",
                f"{live[0]} {live[1]}",
                f"{soft} {hard}",
                "open files of the running process",
            )
        )
    elif opts.pid is None:
        plan.left_alone.append(
            "rlimit.nofile: no --pid given, so no running process is "
            "changed; the hard limit is persisted for new sessions and "
            "services" + ("" if opts.persist else " (but --no-persist)")
        )
    return soft, hard


def validate(
    changes: list[Change],
    facts: HostFacts,
    persisted: list[tuple[registry.Key, str]] | None = None,
    nofile: tuple[int, int] | None = None,
) -> None:
    """Refuse, before anything is written, any value the kernel would reject or misread:
    runtime writes and every value a file will carry, checked against what will hold once
    the plan is applied."""
    planned = {c.key: c.new for c in changes}
    planned.update({k.name: v for k, v in persisted or []})

    def num(key: registry.Key) -> int | None:
        if key.name in planned:
            return values.parse_ints(planned[key.name])[0]
        return facts.int_value(key.name)

    for c in changes:
        if "\n" in c.new or not _VALUE_RE.match(c.new):
            raise UsageError(
                f"{c.key}: refusing value {c.new!r}: letters, digits and ,.:_+- "
                "separated by single spaces only"
            )
        if c.kind != "rlimit" and (
            c.path.startswith("/")
            or ".." in c.path.split("/")
            or not c.path.startswith(("proc/sys/", "sys/module/"))
        ):
            raise UsageError(f"{c.key}: refusing path {c.path!r}: outside /proc/sys")
    shaped = {k.name: k for k, _ in persisted or []}
    items = [(k, v) for k, v in persisted or []]
    items += [
        (shaped.get(c.key) or registry.lookup(c.key), c.new)
        for c in changes
        if c.kind != "rlimit" and c.key not in shaped
    ]
    for key, new in items:
        if "\n" in new or not _VALUE_RE.match(new):
            raise UsageError(
                f"{key.name}: refusing value {new!r}: letters, digits and ,.:_+- "
                "separated by single spaces only"
            )
        _check_bounds(key, new)
    pairs = [nofile] if nofile else []
    for c in changes:
        if c.kind == "rlimit":
            soft, hard = (int(v) for v in c.new.split())
            pairs.append((soft, hard))
    nr_open = num(registry.NR_OPEN)
    for soft, hard in pairs:
        if soft > hard:
            raise UsageError(f"open-files soft limit {soft} above the hard limit {hard}")
        if nr_open is not None and hard > nr_open:
            raise UsageError(
                f"open-files hard limit {hard} above fs.nr_open {nr_open}: "
                "setrlimit would fail with EPERM at every login (pam_limits)",
                "raise fs.nr_open in the same profile",
            )


def _check_bounds(key: registry.Key, new: str) -> None:
    if key.shape == "string":
        return
    try:
        value = values.parse(key, new) if key.known else values.parse_ints(new)
    except ValueError as err:
        raise UsageError(f"{key.name} = {new!r}: {err}") from None
    if key.shape == "portset":
        return
    nums = value if isinstance(value, list) else [value]
    if key.maximum is not None and any(v > key.maximum for v in nums):
        raise UsageError(f"{key.name} = {new}: above the kernel's maximum {key.maximum}")
    if key.minimum is not None and any(v < key.minimum for v in nums):
        raise UsageError(
            f"{key.name} = {new}: below {key.minimum}"
            + (" (the module parameter must be > 0)" if key.param else "")
        )
    if key.shape == "range":
        lo, hi = nums
        if not lo < hi:
            raise UsageError(f"{key.name} {lo} {hi}: needs low < high")
        if key.parity and lo % 2 == hi % 2:
            raise UsageError(
                f"{key.name} {lo} {hi}: the ends must differ in parity "
                "(the kernel warns otherwise, 4.6+)"
            )
    if key.shape == "triple" and nums != sorted(nums):
        raise UsageError(f"{key.name} {new}: must be ascending (min <= default <= max)")


def _header(profile: str, what: str) -> str:
    return (
        f"# Written by tunekit for profile {profile}: {what}.\n"
        "# Undo with `tunekit rollback` (restores the previous file, or removes this one).\n"
    )


RELOAD = (
    "takes effect for services started after `systemctl daemon-reload` (systemd 223 "
    "and later reload system.conf on daemon-reload, systemd NEWS v223; older ones need "
    "daemon-reexec); running services keep their limit until restarted"
)


SOFT_EVERYWHERE_NOTE = (
    "# the soft limit too, as the profile asks (soft_nofile_everywhere): programs that use "
    "select() break past descriptor 1023\n"
)
HARD_ONLY_NOTE = (
    "# hard limit only: each program raises its soft limit itself; 1024 stays the default "
    "because select() breaks past descriptor 1023\n"
)


def _files(
    writes: list[_Write], pair, nofile: dict[str, _Write], profile: str, opts: Options, existing
) -> list[FileWrite]:
    out: list[FileWrite] = []
    ns_only = opts.scope == "namespace"
    body = [
        f"# {w.reason} ({w.source})\n{w.key.name} = {text(w.value)}\n"
        for w in writes
        if w.key.persist == "sysctl.d"
    ]
    if body:
        out.append(
            FileWrite(
                SYSCTL_FILE,
                _header(
                    profile,
                    "kernel settings, applied at boot by systemd-sysctl or `sysctl --system`",
                )
                + "\n"
                + "\n".join(body),
            )
        )
    if not ns_only:
        out += _modprobe_files(writes, profile)
    hard_w = nofile.get(registry.NOFILE_HARD.name)
    if pair and not ns_only:
        soft, hard = pair
        everywhere = opts.soft_everywhere
        if hard_w and hard_w.findings or everywhere:
            lines = f"*    hard nofile {hard}\nroot hard nofile {hard}\n"
            if everywhere:
                lines = (
                    f"*    soft nofile {soft}\n*    hard nofile {hard}\n"
                    f"root soft nofile {soft}\nroot hard nofile {hard}\n"
                )
            out.append(
                FileWrite(
                    LIMITS_FILE,
                    _header(
                        profile,
                        "open files for login sessions (pam_limits; never reaches services; "
                        "'*' skips root, so root has its own lines)",
                    )
                    + (SOFT_EVERYWHERE_NOTE if everywhere else HARD_ONLY_NOTE)
                    + lines,
                )
            )
            default_soft = soft if everywhere else DEFAULT_SOFT
            out.append(
                FileWrite(
                    SYSTEMD_FILE,
                    _header(profile, "default open files for systemd services; " + RELOAD)
                    + f"[Manager]\nDefaultLimitNOFILE={min(default_soft, hard)}:{hard}\n",
                )
            )
        if opts.unit:
            unit = unit_full_name(opts.unit)
            out.append(
                FileWrite(
                    unit_file(opts.unit),
                    _header(
                        profile,
                        f"open files for {unit}, soft and hard: the workload lives here; "
                        f"takes effect after `systemctl daemon-reload` and a restart of {unit}",
                    )
                    + f"[Service]\nLimitNOFILE={soft}:{hard}\n",
                )
            )
    for fw in out:
        fw.old = existing.get(fw.path)
    return out


def _modprobe_files(writes: list[_Write], profile: str) -> list[FileWrite]:
    """One modprobe.d file per module: its parameters (options), and an install command
    that writes the module's own sysctls right after it loads. systemd-sysctl may run before
    the module loads (then its keys do not exist yet), and a hashsize= given at load makes
    the kernel set nf_conntrack_max to 8 x hashsize (nf_conntrack_init_start): the install
    line puts the planned value back however and whenever the module loads."""
    out = []
    modules = dict.fromkeys(w.key.module for w in writes if w.key.module)
    for module in modules:
        mine = [w for w in writes if w.key.module == module]
        params = [w for w in mine if w.key.persist == "modprobe"]
        sysctls = [w for w in mine if w.key.persist == "sysctl.d"]
        lines = []
        if params:
            lines.append(
                f"options {module} " + " ".join(f"{w.key.param}={text(w.value)}" for w in params)
            )
        if sysctls:
            echo = " && ".join(f"echo {text(w.value)} > /{w.key.proc_path}" for w in sysctls)
            lines.append(
                f"install {module} /sbin/modprobe --ignore-install {module} $CMDLINE_OPTS && {echo}"
            )
        why = "".join(f"# {w.key.name}: {w.reason}\n" for w in mine)
        out.append(
            FileWrite(
                modprobe_file(module),
                _header(profile, f"{module} settings, applied when the module loads")
                + why
                + "\n".join(lines)
                + "\n",
            )
        )
    return out


def unit_name_ok(unit: str) -> bool:
    """A systemd unit name that is also one safe path component."""
    return (
        re.fullmatch(r"[A-Za-z0-9:_.@-]{1,200}", unit) is not None
        and ".." not in unit
        and not unit.startswith(".")
    )


# --- boot-time conflicts --------------------------------------------------------------


def boot_order(files: dict[str, str]) -> list[str]:
    """Paths (relative to the root) in the order the boot applies them. `files` maps every
    existing *.conf under SYSCTL_DIRS, and SYSCTL_CONF if present, to its contents."""
    names: dict[str, list[str]] = {}
    for path in files:
        d, _, name = path.rpartition("/")
        if d in SYSCTL_DIRS and name.endswith(".conf"):
            names.setdefault(d, []).append(name)
    return search_order(names, SYSCTL_DIRS) + ([SYSCTL_CONF] if SYSCTL_CONF in files else [])


def parse_sysctl_conf(content: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in content.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lstrip("-").replace("/", ".")] = " ".join(value.split())
    return out


def boot_conflicts(files: dict[str, str], ours: dict[str, str]) -> list[str]:
    """Every file that would set one of our keys after tunekit's file, to another value."""
    files = {**files, SYSCTL_FILE: ""}
    order = boot_order(files)
    after = order[order.index(SYSCTL_FILE) + 1 :] if SYSCTL_FILE in order else []
    out = []
    for path in after:
        for key, value in parse_sysctl_conf(files[path]).items():
            if key in ours and value != ours[key]:
                out.append(
                    f"/{path} sets {key} = {value} after tunekit's /{SYSCTL_FILE} "
                    f"(= {ours[key]}): it wins at the next boot"
                )
    return out
