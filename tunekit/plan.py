"""The plan: every runtime write and the exact contents of every file apply would write.

Pure: built from findings and facts, validated before anything is written. `apply --dry-run`
prints it and `apply` executes it; both come from build_plan.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from tunekit import registry
from tunekit.check import Finding
from tunekit.errors import UsageError
from tunekit.facts import HostFacts

SYSCTL_FILE = "etc/sysctl.d/90-tunekit.conf"
LIMITS_FILE = "etc/security/limits.d/90-tunekit.conf"
SYSTEMD_FILE = "etc/systemd/system.conf.d/90-tunekit.conf"
MODPROBE_FILE = "etc/modprobe.d/tunekit.conf"
HASHSIZE_PATH = "sys/module/nf_conntrack/parameters/hashsize"

# The boot applies these directories; a file name in an earlier directory shadows the same
# name in later ones; all names are then applied in lexical order, /etc/sysctl.conf last
# (procps `sysctl --system`; systemd-sysctl reads it through 99-sysctl.conf). sysctl.d(5).
SYSCTL_DIRS = ("etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d",
               "lib/sysctl.d")
SYSCTL_CONF = "etc/sysctl.conf"

# Runtime order: the per-process ceiling before any rlimit that needs it; buckets before the
# table size they hash (the kernel warns when max/buckets is large).
_ORDER = ["fs.nr_open", "net.netfilter.nf_conntrack_buckets", "net.netfilter.nf_conntrack_max"]
_VALUE_RE = re.compile(r"^[0-9]+( [0-9]+){0,2}$")


@dataclass
class Change:
    key: str
    kind: str  # "sysctl", "hashsize" or "rlimit"
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

    @property
    def empty(self) -> bool:
        return not self.changes and not any(f.content != f.old for f in self.files)

    def to_dict(self) -> dict:
        return {"profile": self.profile, "profile_why": self.profile_why, "root": self.root,
                "changes": [asdict(c) for c in self.changes],
                "files": [{**asdict(f), "changed": f.content != f.old} for f in self.files],
                "left_alone": self.left_alone, "conflicts": self.conflicts}


def text(value) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _sort_key(f: Finding) -> tuple[int, int]:
    base = f.key.split("[")[0]
    if base in _ORDER:
        return (0, _ORDER.index(base))
    if base.startswith("rlimit."):
        return (2, 0 if base.endswith("hard") else 1)  # raise hard before soft
    return (1, list(registry.KEYS).index(base))


@dataclass
class Options:
    scope: str = "all"  # "all" or "namespace"
    pid: int | None = None
    unit: str | None = None
    persist: bool = True


def build_plan(findings: list[Finding], facts: HostFacts, profile: str, why: str, root: str,
               opts: Options, existing: dict[str, str | None]) -> Plan:
    """`existing` maps each file path apply may write to its current contents (or None)."""
    plan = Plan(profile=profile, profile_why=why, root=root)
    live = facts.source == "live"
    # Under another root (an image, a chroot) a key absent there is still persisted.
    persist_only = {"missing", "unreadable"} if not live and opts.persist else set()
    todo = sorted((f for f in findings if f.proposed is not None
                   and (f.verdict == "fail" or f.verdict in persist_only)), key=_sort_key)
    sysctls: list[tuple[Finding, registry.Key]] = []
    nofile: dict[str, int] = {}
    absent: list[str] = []
    for f in todo:
        key = registry.KEYS[f.key.split("[")[0]]
        if opts.scope == "namespace" and key.scope != "netns":
            plan.left_alone.append(f"{key.name}: {key.scope} key, left to the host "
                                   "(--scope namespace)")
            continue
        if key.kind == "rlimit":
            nofile[key.name.rsplit(".", 1)[1]] = f.proposed
            continue
        sysctls.append((f, key))
        if f.verdict != "fail":
            absent.append(key.name)
            continue
        old = facts.sysctls.get(key.name, "")
        if key.name == "net.netfilter.nf_conntrack_buckets":
            plan.changes.append(Change(key.name, "hashsize", HASHSIZE_PATH, old, text(f.proposed),
                                       f.reason))
        else:
            plan.changes.append(Change(key.name, "sysctl", key.proc_path, old, text(f.proposed),
                                       f.reason))
    if absent:
        plan.left_alone.append(f"not present under {root}, so written to the drop-in only: "
                               + ", ".join(absent))
    pair = _nofile_pair(nofile, facts) if nofile else None
    if pair:
        soft, hard = pair
        if opts.pid is not None:
            cur = facts.nofile or (0, 0)
            plan.changes.append(Change("rlimit.nofile", "rlimit", f"pid {opts.pid}",
                                       f"{cur[0]} {cur[1]}", f"{soft} {hard}",
                                       "open files of the running process"))
        else:
            plan.left_alone.append("rlimit.nofile: no --pid given, so no running process is "
                                   "changed; the limit is persisted for new sessions and "
                                   "services" + ("" if opts.persist else " (but --no-persist)"))
    validate(plan.changes, facts)
    if opts.persist:
        plan.files = _files(sysctls, pair, profile, opts, existing)
    return plan


def _nofile_pair(nofile: dict[str, int], facts: HostFacts) -> tuple[int, int]:
    live = facts.nofile or (0, 0)
    hard = max(nofile.get("hard", 0), live[1], nofile.get("soft", 0))
    soft = max(nofile.get("soft", live[0]), live[0])
    return soft, hard


def validate(changes: list[Change], facts: HostFacts) -> None:
    """Refuse, before anything is written, any value the kernel would reject or misread."""
    planned = {c.key: c.new for c in changes}

    def num(key: str) -> int | None:
        if key in planned:
            return int(planned[key].split()[0])
        return facts.int_value(key)

    for c in changes:
        if not _VALUE_RE.match(c.new):
            raise UsageError(f"{c.key}: refusing value {c.new!r}: only digits separated by "
                             "single spaces")
        if c.kind != "rlimit" and (c.path.startswith("/") or ".." in c.path.split("/")
                                   or not c.path.startswith(("proc/sys/", "sys/module/"))):
            raise UsageError(f"{c.key}: refusing path {c.path!r}: outside /proc/sys")
        values = [int(v) for v in c.new.split()]
        key = registry.KEYS.get(c.key)
        if key and key.maximum is not None and values[0] > key.maximum:
            raise UsageError(f"{c.key} = {values[0]}: above the kernel's maximum {key.maximum}")
        if c.key == "net.ipv4.ip_local_port_range":
            lo, hi = values
            if not 1 <= lo < hi <= 65535:
                raise UsageError(f"ip_local_port_range {lo} {hi}: needs 1 <= low < high <= 65535")
            if lo % 2 == hi % 2:
                raise UsageError(f"ip_local_port_range {lo} {hi}: the ends must differ in parity "
                                 "(the kernel warns otherwise, 4.6+)")
        if key and key.shape == "triple" and values != sorted(values):
            raise UsageError(f"{c.key} {c.new}: must be ascending (min <= default <= max)")
        if c.kind == "hashsize" and values[0] <= 0:
            raise UsageError("nf_conntrack hashsize must be > 0")
        if c.kind == "rlimit":
            soft, hard = values
            nr_open = num("fs.nr_open")
            if soft > hard:
                raise UsageError(f"open-files soft limit {soft} above the hard limit {hard}")
            if nr_open is not None and hard > nr_open:
                raise UsageError(f"open-files hard limit {hard} above fs.nr_open {nr_open}",
                                 "raise fs.nr_open in the same profile")


def _header(profile: str, what: str) -> str:
    return (f"# Written by tunekit for profile {profile}: {what}.\n"
            "# Undo with `tunekit rollback` (restores the previous file, or removes this one).\n")


def _files(sysctls, nofile, profile: str, opts: Options, existing) -> list[FileWrite]:
    out: list[FileWrite] = []
    ns_only = opts.scope == "namespace"
    body = []
    for f, key in sysctls:
        if key.name == "net.netfilter.nf_conntrack_buckets":
            continue  # a module parameter: modprobe.d below
        body.append(f"# {f.reason} ({f.source})\n{key.name} = {text(f.proposed)}\n")
    if body:
        out.append(FileWrite(SYSCTL_FILE, _header(profile, "kernel settings, applied at boot "
                                                  "by systemd-sysctl or `sysctl --system`")
                             + "\n" + "\n".join(body)))
    hashsize = next((f for f, k in sysctls if k.name == "net.netfilter.nf_conntrack_buckets"), None)
    if hashsize is not None and not ns_only:
        out.append(FileWrite(MODPROBE_FILE, _header(profile, "conntrack hash buckets, applied "
                                                    "when nf_conntrack loads")
                             + f"options nf_conntrack hashsize={text(hashsize.proposed)}\n"))
    if nofile and not ns_only:
        soft, hard = nofile
        out.append(FileWrite(LIMITS_FILE, _header(
            profile, "open files for login sessions (pam_limits; never reaches services; "
                     "'*' skips root, so root has its own lines)") +
            f"*    soft nofile {soft}\n*    hard nofile {hard}\n"
            f"root soft nofile {soft}\nroot hard nofile {hard}\n"))
        out.append(FileWrite(SYSTEMD_FILE, _header(
            profile, "default open files for systemd services (takes effect after "
                     "`systemctl daemon-reexec` or a reboot)") +
            f"[Manager]\nDefaultLimitNOFILE={soft}:{hard}\n"))
        if opts.unit:
            unit = opts.unit if "." in opts.unit else opts.unit + ".service"
            out.append(FileWrite(f"etc/systemd/system/{unit}.d/90-tunekit.conf", _header(
                profile, f"open files for {unit} (takes effect after `systemctl daemon-reload` "
                         f"and a restart of {unit})") +
                f"[Service]\nLimitNOFILE={soft}:{hard}\n"))
    for fw in out:
        fw.old = existing.get(fw.path)
    return out


def unit_name_ok(unit: str) -> bool:
    return bool(re.match(r"^[A-Za-z0-9:_.@-]{1,200}$", unit)) and ".." not in unit


# --- boot-time conflicts --------------------------------------------------------------


def boot_order(files: dict[str, str]) -> list[str]:
    """Paths (relative to the root) in the order the boot applies them. `files` maps every
    existing *.conf under SYSCTL_DIRS, and SYSCTL_CONF if present, to its contents."""
    by_name: dict[str, str] = {}
    for d in reversed(SYSCTL_DIRS):  # earlier directories shadow later ones
        for path in files:
            if path.rsplit("/", 1)[0] == d and path.endswith(".conf"):
                by_name[path.rsplit("/", 1)[1]] = path
    order = [by_name[n] for n in sorted(by_name)]
    if SYSCTL_CONF in files:
        order.append(SYSCTL_CONF)
    return order


def parse_sysctl_conf(content: str) -> dict[str, str]:
    out = {}
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
    after = order[order.index(SYSCTL_FILE) + 1:] if SYSCTL_FILE in order else []
    out = []
    for path in after:
        for key, value in parse_sysctl_conf(files[path]).items():
            if key in ours and value != ours[key]:
                out.append(f"/{path} sets {key} = {value} after tunekit's /{SYSCTL_FILE} "
                           f"(= {ours[key]}): it wins at the next boot")
    return out
