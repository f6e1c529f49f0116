"""The plan: every runtime write and the exact contents of every file apply would write.

Pure: built from findings and facts, validated before anything is written. The plan decides
one value per key; each kind of file is rendered by its writer (persist/writers), the same
render step that `export` uses. `apply --dry-run` prints the plan and `apply` executes it;
both come from build_plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import PrivateAttr, computed_field

from tunekit.errors import UsageError
from tunekit.knowledge import bounds
from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import Key
from tunekit.model import bootfloor, values

if TYPE_CHECKING:
    from tunekit.host.bootset import NofileAtBoot
from tunekit.model.base import Model
from tunekit.model.check import Finding, live_value, proposed_value, satisfied
from tunekit.model.facts import HostFacts
from tunekit.model.profiles import Target

DEFAULT_SOFT = 1024  # FD_SETSIZE: the soft limit every process but the workload keeps
_VALUE_RE = re.compile(r"^[A-Za-z0-9_.,:+-]+( [A-Za-z0-9_.,:+-]+)*$")


class RuntimeChange(Model):
    """One write to the running kernel: a /proc/sys or /sys/module file, or a pid's limit."""

    key: str
    kind: Literal["sysctl", "rlimit"]
    path: str  # relative to the root, or "pid N" for an rlimit
    old: str
    new: str
    reason: str


class FileWrite(Model):
    path: str  # relative to the root
    content: str
    old: str | None = None  # current contents; None when the file does not exist

    @computed_field  # type: ignore[prop-decorator]
    @property
    def changed(self) -> bool:
        return self.content != self.old


class Plan(Model):
    profile: str
    profile_why: str
    root: str
    changes: list[RuntimeChange] = []
    files: list[FileWrite] = []
    left_alone: list[str] = []
    conflicts: list[str] = []
    unfit: list[str] = []  # why the workload cannot fit this host
    # What the writers rendered the files from (not printed): export renders it again,
    # through the same writers, into the forms of other tools.
    _decided: Persisted | None = PrivateAttr(None)

    @property
    def decided(self) -> Persisted | None:
        return self._decided

    @property
    def empty(self) -> bool:
        return not self.changes and not any(f.changed for f in self.files)


@dataclass
class Options:
    scope: str = "all"  # "all" or "namespace"
    pid: int | None = None
    unit: str | None = None
    persist: bool = True
    soft_everywhere: bool = False  # the profile asks for the soft limit everywhere


@dataclass
class Setting:
    """What the plan decided for one key: its new value, and the findings behind it."""

    key: Key
    value: Any  # int, list of ints, text, or port intervals, by the key's shape
    findings: list[Finding]
    runtime: bool  # False: the key is absent under the root, so only persisted
    persist: str = ""  # where it is persisted on this host ("": the key's own way)
    note: str = ""  # why the value differs from the targets' (bootfloor), if it does

    def __post_init__(self) -> None:
        self.persist = self.persist or self.key.persist

    @property
    def text(self) -> str:
        return values.text(self.value)

    @property
    def to_sysctl_d(self) -> bool:
        """Written in sysctl.d ("both": a module that may be built into the kernel)."""
        return self.persist in ("sysctl.d", "both")

    @property
    def to_modprobe(self) -> bool:
        """Written as a module option in modprobe.d."""
        return self.persist in ("modprobe", "both")

    @property
    def reason(self) -> str:
        why = [f.reason for f in self.findings if f.verdict != "pass"]
        return "; ".join(why + ([self.note] if self.note else []))

    @property
    def source(self) -> str:
        return "; ".join(dict.fromkeys(f.source for f in self.findings if f.source))


@dataclass
class Nofile:
    """The open-files pair the plan persists: hard for everyone, soft where it belongs."""

    soft: int
    hard: int
    raise_hard: bool  # a hard-limit target is behind it (not only the soft one)
    # the soft limit systemd's services get: 1024 unless the root's system.conf gives more
    services_soft: int = DEFAULT_SOFT
    # the root's own files give an unlimited hard limit (fs.nr_open at boot): tunekit's
    # limits.d / system.conf.d line would only lower it, so it is not written
    keep_sessions: bool = False
    keep_services: bool = False
    # PID 1 is not systemd: no system.conf is read, so no services' default is written
    no_systemd: bool = False


@dataclass
class Persisted:
    """Everything the writers render: one decision per key, in write order."""

    profile: str
    opts: Options
    settings: list[Setting] = field(default_factory=list)
    nofile: Nofile | None = None
    builtin: set[str] = field(default_factory=set)  # modules built into the kernel


def _target(f: Finding, key: Key) -> Target:
    ref = f.target.model_dump() if f.target else {}
    return Target.model_validate(
        {**ref, "key": key.name, "reason": f.reason or "-", "source": f.source or "-"}
    )


def _decide(key: Key, findings: list[Finding], facts: HostFacts) -> object:
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
    if not _all_met(key, targets, value, facts):
        raise UsageError(
            f"{key.name}: the targets contradict each other "
            f"({', '.join(f.expected for f in findings)}); no value meets them all",
            "pin one target for this key in the profile",
        )
    return value


def _all_met(key: Key, targets: list[Target], value, facts: HostFacts) -> bool:
    return all(satisfied(t, value, _reserved(key, value, facts)) for t in targets)


def _reserved(key: Key, value, facts: HostFacts) -> int:
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
    boot_set: dict[str, str] | None = None,
    nofile_at_boot: NofileAtBoot | None = None,
) -> Plan:
    """`existing` maps each file path apply may write to its current contents (or None);
    `boot_set` each key another boot file sets to where and how ("path: key = value");
    `nofile_at_boot` the open-files limits the root's own files give (never lowered)."""
    from tunekit.persist import writers

    plan = Plan(profile=profile, profile_why=why, root=root)
    decided = Persisted(profile, opts, builtin={m for m, b in facts.builtin.items() if b})
    nofile = _decide_settings(findings, facts, opts, plan, decided, boot_set or {})
    for s in decided.settings:
        if s.runtime:
            plan.changes.append(
                RuntimeChange(
                    key=s.key.name,
                    kind="sysctl",
                    path=s.key.runtime_path,
                    old=facts.sysctls.get(s.key.name, ""),
                    new=s.text,
                    reason=s.reason,
                )
            )
    absent = [s.key.name for s in decided.settings if not s.runtime]
    if absent:
        plan.left_alone.append(
            f"not present (or not readable) under {root}, so written to the drop-in only: "
            + ", ".join(absent)
        )
    decided.nofile = _nofile(nofile, facts, opts, plan, nofile_at_boot)
    validate(plan.changes, facts, [(s.key, s.text) for s in decided.settings], decided.nofile)
    if opts.persist:
        plan.files = writers.render(decided)
        for fw in plan.files:
            fw.old = existing.get(fw.path)
    plan._decided = decided
    return plan


def _decide_settings(
    findings: list[Finding],
    facts: HostFacts,
    opts: Options,
    plan: Plan,
    decided: Persisted,
    boot_set: dict[str, str],
) -> dict[str, Setting]:
    """One Setting per key that has a failing target (or, under another root, one that is
    absent there), into `decided` in write order; the open-files pair is returned apart."""
    live = facts.source == "live"
    # Under another root (an image, a chroot) a key absent there is still persisted.
    persist_only = {"missing", "unreadable"} if not live and opts.persist else set()
    ctx = facts.boot_context()
    by_key: dict[str, list[Finding]] = {}  # the findings of targets, by key
    for f in findings:
        if f.target is not None:
            by_key.setdefault(f.key.split("[")[0], []).append(f)
    nofile: dict[str, Setting] = {}
    for name, group in by_key.items():
        value_of = [f.target.value for f in group if f.target]
        key = K.generic_shape(K.lookup(name), value_of[0])
        acting = [
            f
            for f in group
            if f.verdict == "fail" or (f.verdict in persist_only and f.proposed is not None)
        ]
        if key.kind == "rlimit":  # the pair is decided from the targets' values: _nofile
            wanted = [v for v in value_of if isinstance(v, int)]
            nofile[name] = Setting(key, max(wanted, default=0), acting, bool(acting))
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
        value = _decide(key, group, facts)
        if opts.persist:  # never a drop-in that lowers what the host gets at boot
            targets = [_target(f, key) for f in group if f.target]
            floor = bootfloor.apply_floor(
                key,
                value,
                runtime,
                ctx,
                boot_set.get(key.name),
                lambda v, key=key, targets=targets: _all_met(key, targets, v, facts),
            )
            if floor.value is None:
                plan.left_alone.append(floor.note)
                continue
            value, note = floor.value, floor.note
        else:
            note = ""
        persist = _persist_as(key, facts, plan)
        decided.settings.append(Setting(key, value, acting, runtime, persist, note))
    decided.settings.sort(key=lambda s: (s.key.order, list(by_key).index(s.key.name)))
    return nofile


def _persist_as(key: Key, facts: HostFacts, plan: Plan) -> str:
    """A module parameter is persisted in sysctl.d when the module is built into the
    kernel: modprobe.d options are then never read (kernel-parameters.rst: built-in
    modules take their parameters on the kernel command line)."""
    if key.persist == "modprobe" and key.module and facts.builtin.get(key.module):
        plan.left_alone.append(
            f"{key.name}: {key.module} is built into this kernel, so modprobe.d would be "
            f"ignored: it goes in sysctl.d, which the initial namespace accepts (or "
            f"{key.module}.{key.param}= on the kernel command line)"
        )
        return "sysctl.d"
    if key.persist == "modprobe" and key.module and facts.builtin.get(key.module) is None:
        plan.left_alone.append(
            f"{key.name}: whether {key.module} is built into the kernel that boots is not "
            f"known here (no single lib/modules/RELEASE/modules.builtin, no "
            f"/sys/module/{key.module}): written both as a module option in modprobe.d "
            f"(read when it loads as a module) and in sysctl.d (the way a built-in one "
            f"takes it; {key.module}.{key.param}= on the kernel command line works too)"
        )
        return "both"
    return key.persist


def _nofile(
    nofile: dict[str, Setting],
    facts: HostFacts,
    opts: Options,
    plan: Plan,
    at_boot: NofileAtBoot | None = None,
) -> Nofile | None:
    """(soft, hard) for the workload. The hard limit is raised for everyone; the soft one
    only where the workload lives (--pid, --unit) unless the profile asks otherwise.
    Never below what the root's own limits.conf and system.conf give (`at_boot`): tunekit's
    files are read after them, and a lower number there would lower the limit."""
    if not nofile:
        return None
    hard_w, soft_w = nofile.get(K.NOFILE_HARD.name), nofile.get(K.NOFILE_SOFT.name)
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
    services_soft = DEFAULT_SOFT
    if opts.persist and at_boot is not None:
        floor = max(at_boot.sessions, at_boot.services_soft, at_boot.services_hard)
        if floor > hard:
            plan.left_alone.append(
                f"rlimit.nofile: hard {floor:,}, not {hard:,}: the root's own files give "
                f"{floor:,} at boot ({'; '.join(at_boot.where)}), and tunekit's files, read "
                "after them, would lower it"
            )
            hard = floor
        if opts.soft_everywhere:
            soft = max(soft, min(at_boot.sessions_soft, hard))
        services_soft = max(DEFAULT_SOFT, at_boot.services_soft)
        for unlimited, what in (
            (at_boot.sessions_unlimited, "login sessions (limits.conf)"),
            (at_boot.services_unlimited, "services (DefaultLimitNOFILE=infinity)"),
        ):
            if unlimited:
                plan.left_alone.append(
                    f"rlimit.nofile for {what}: the root's own files give an unlimited hard "
                    f"limit, which becomes {K.NR_OPEN.name} at boot (limits.conf(5); systemd "
                    f"setrlimit_closest), the most any number could give: tunekit writes "
                    f"none ({'; '.join(at_boot.where)})"
                )
    if opts.pid is not None and (hard_w and hard_w.runtime or soft_w and soft_w.runtime):
        plan.changes.append(
            RuntimeChange(
                key="rlimit.nofile",
                kind="rlimit",
                path=f"pid {opts.pid}",
                old=f"{live[0]} {live[1]}",
                new=f"{soft} {hard}",
                reason="open files of the running process",
            )
        )
    elif opts.pid is None:
        plan.left_alone.append(
            "rlimit.nofile: no --pid given, so no running process is "
            "changed; the hard limit is persisted for new sessions and "
            "services" + ("" if opts.persist else " (but --no-persist)")
        )
    keep = (at_boot.sessions_unlimited, at_boot.services_unlimited) if at_boot else (False, False)
    persisted = hard
    boot, why = bootfloor.nofile_hard(facts.systemd, facts.init, facts.pid1_nofile_hard)
    if opts.persist and boot > hard:
        # the files apply to every login and service: a hard limit below the one they get
        # without them would take descriptors away (a running process keeps `hard`)
        plan.left_alone.append(
            f"rlimit.nofile: hard {boot:,} persisted, not {hard:,}: {why}, and a lower "
            "number in tunekit's files would lower it for every service and login"
        )
        persisted = boot
    if opts.persist and facts.systemd is False:
        plan.left_alone.append(
            f"rlimit.nofile for services: PID 1 is not systemd ({facts.init}), which alone "
            "reads system.conf.d: no DefaultLimitNOFILE= is written"
        )
    return Nofile(
        soft,
        persisted,
        bool(hard_w and hard_w.findings),
        services_soft,
        *keep,
        no_systemd=facts.systemd is False,
    )


def _refuse_text(name: str, new: str) -> None:
    if "\n" in new or not _VALUE_RE.match(new):
        raise UsageError(
            f"{name}: refusing value {new!r}: letters, digits and ,.:_+- "
            "separated by single spaces only"
        )


def validate(
    changes: list[RuntimeChange],
    facts: HostFacts,
    persisted: list[tuple[Key, str]] | None = None,
    nofile: Nofile | tuple[int, int] | None = None,
) -> None:
    """Refuse, before anything is written, any value the kernel would reject or misread:
    runtime writes and every value a file will carry, checked against what will hold once
    the plan is applied."""
    planned = {c.key: c.new for c in changes}
    planned.update({k.name: v for k, v in persisted or []})
    for c in changes:
        _refuse_text(c.key, c.new)
        if c.kind != "rlimit" and (
            c.path.startswith("/")
            or ".." in c.path.split("/")
            or not c.path.startswith(("proc/sys/", "sys/module/"))
        ):
            raise UsageError(f"{c.key}: refusing path {c.path!r}: outside /proc/sys")
    shaped = {k.name: k for k, _ in persisted or []}
    items = list(persisted or [])
    items += [
        (shaped.get(c.key) or K.lookup(c.key), c.new)
        for c in changes
        if c.kind != "rlimit" and c.key not in shaped
    ]
    for key, new in items:
        _refuse_text(key.name, new)
        try:
            bounds.check_written(key, new)
        except ValueError as err:
            raise UsageError(str(err)) from None
    pairs = [(nofile.soft, nofile.hard) if isinstance(nofile, Nofile) else nofile] if nofile else []
    for c in changes:
        if c.kind == "rlimit":
            soft, hard = (int(v) for v in c.new.split())
            pairs.append((soft, hard))
    nr_open = (
        values.parse_ints(planned[K.NR_OPEN.name])[0]
        if K.NR_OPEN.name in planned
        else facts.int_value(K.NR_OPEN.name)
    )
    for soft, hard in pairs:
        if soft > hard:
            raise UsageError(f"open-files soft limit {soft} above the hard limit {hard}")
        if nr_open is not None and hard > nr_open:
            raise UsageError(
                f"open-files hard limit {hard} above {K.NR_OPEN.name} {nr_open}: "
                "setrlimit would fail with EPERM at every login (pam_limits)",
                f"raise {K.NR_OPEN.name} in the same profile",
            )


def unit_name_ok(unit: str) -> bool:
    """A systemd unit name that is also one safe path component."""
    return (
        re.fullmatch(r"[A-Za-z0-9:_.@-]{1,200}", unit) is not None
        and ".." not in unit
        and not unit.startswith(".")
    )


def unit_full_name(unit: str) -> str:
    return unit if "." in unit else unit + ".service"
