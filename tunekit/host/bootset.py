"""Everything that applies at the next boot, read under a root in the order it applies.

- sysctl: the sysctl.d search path; a file name in an earlier directory hides the same name
  in later ones; all names apply in lexical order, /etc/sysctl.conf last; the last
  assignment of a key wins (sysctl.d(5); procps `sysctl --system`).
- pam_limits: /etc/security/limits.conf, then limits.d/*.conf in C-locale order
  (limits.conf(5)).
- systemd: /etc/systemd/system.conf, then system.conf.d drop-ins with the same hiding and
  order rules as sysctl.d (systemd-system.conf(5)).
- modprobe.d: `options` lines for the conntrack modules (modprobe.d(5)), and the modules
  that modules-load.d loads at boot (modules-load.d(5)).

Every read goes through rootfs.Root (openat2 RESOLVE_IN_ROOT, regular files only): an
image's symlinks cannot make tunekit read the live host, and a FIFO cannot hang it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tunekit.host import confparse
from tunekit.knowledge.catalogue import CONNTRACK_MODULES

SYSCTL_DIRS = (
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
)
SYSCTL_CONF = "etc/sysctl.conf"
LIMITS_CONF = "etc/security/limits.conf"
LIMITS_DIR = "etc/security/limits.d"
SYSTEM_CONF = "etc/systemd/system.conf"
SYSTEM_CONF_DIRS = tuple(
    f"{d}/system.conf.d" for d in ("etc/systemd", "run/systemd", "usr/local/lib/systemd")
) + ("usr/lib/systemd/system.conf.d", "lib/systemd/system.conf.d")
MODPROBE_DIRS = (
    "etc/modprobe.d",
    "run/modprobe.d",
    "usr/local/lib/modprobe.d",
    "usr/lib/modprobe.d",
    "lib/modprobe.d",
)
MODULES_LOAD_DIRS = (
    "etc/modules-load.d",
    "run/modules-load.d",
    "usr/local/lib/modules-load.d",
    "usr/lib/modules-load.d",
    "lib/modules-load.d",
)


@dataclass
class BootFile:
    path: str  # relative to the root
    format: str
    text: str


@dataclass
class BootSet:
    files: list[BootFile] = field(default_factory=list)
    modules_at_boot: set[str] = field(default_factory=set)
    unreadable: list[str] = field(default_factory=list)  # "path: reason"


def search_order(names_by_dir: dict[str, list[str]], dirs: tuple[str, ...]) -> list[str]:
    """Paths in the order they apply: an earlier directory hides a same-named file in a
    later one; the survivors apply in lexical order of their names."""
    by_name: dict[str, str] = {}
    for d in reversed(dirs):
        for name in names_by_dir.get(d, []):
            by_name[name] = f"{d}/{name}"
    return [by_name[n] for n in sorted(by_name)]


def listdir(r, rel: str, unreadable: list[str] | None = None) -> list[str]:
    """The *.conf names in a directory under the Root `r`, sorted; none if it is absent.
    One that is there but cannot be opened (a symlink loop, a file where a directory
    belongs) is listed in `unreadable`, not skipped in silence."""
    try:
        fd = r.open(rel, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return []
    except OSError as err:
        if unreadable is not None:
            unreadable.append(f"/{rel}: {err.strerror or err}")
        return []
    try:
        return sorted(n for n in os.listdir(fd) if n.endswith(".conf"))
    finally:
        os.close(fd)


def _ordered(r, dirs: tuple[str, ...], unreadable: list[str]) -> list[str]:
    return search_order({d: listdir(r, d, unreadable) for d in dirs}, dirs)


def _add(r, out: BootSet, rel: str, fmt: str, must_exist: bool = False) -> None:
    try:
        out.files.append(BootFile(rel, fmt, r.read(rel)))
    except FileNotFoundError:
        if must_exist:
            out.unreadable.append(f"/{rel}: missing")
    except OSError as err:
        out.unreadable.append(f"/{rel}: {err.strerror or err}")


def _conntrack_lines(text: str) -> str:
    """Only the modprobe.d lines about the conntrack modules: other modules' options are
    none of tunekit's business, and keep their line numbers (blank lines in between)."""
    keep = []
    for line in text.splitlines():
        words = line.split()
        mod = words[1].replace("-", "_") if len(words) > 1 else ""
        keep.append(line if mod in CONNTRACK_MODULES else "")
    return "\n".join(keep)


def collect(root: Path) -> BootSet:
    from tunekit.host.procfs import open_root

    out = BootSet()
    with open_root(root) as r:
        for rel in _ordered(r, SYSCTL_DIRS, out.unreadable):
            _add(r, out, rel, "sysctl.conf")
        _add(r, out, SYSCTL_CONF, "sysctl.conf")
        _add(r, out, LIMITS_CONF, "limits.conf")
        for name in listdir(r, LIMITS_DIR, out.unreadable):
            _add(r, out, f"{LIMITS_DIR}/{name}", "limits.conf")
        _add(r, out, SYSTEM_CONF, "system.conf")
        for rel in _ordered(r, SYSTEM_CONF_DIRS, out.unreadable):
            _add(r, out, rel, "system.conf")
        for rel in _ordered(r, MODPROBE_DIRS, out.unreadable):
            before = len(out.files)
            _add(r, out, rel, "modprobe.d")
            if len(out.files) > before:
                out.files[-1].text = _conntrack_lines(out.files[-1].text)
        for rel in _ordered(r, MODULES_LOAD_DIRS, out.unreadable):
            try:
                out.modules_at_boot |= confparse.modules_load(r.read(rel))
            except OSError:
                continue
        try:
            out.modules_at_boot |= confparse.modules_load(r.read("etc/modules"))
        except OSError:
            pass
    return out


# --- what the boot does after a given file ------------------------------------------------


def sysctl_files(root: Path) -> dict[str, str]:
    """Every sysctl file the boot reads, relative path -> contents (regular files only),
    hidden ones included: boot_order decides which apply."""
    from tunekit.host.rootfs import Root

    out = {}
    with Root(root) as r:
        paths = [f"{d}/{n}" for d in SYSCTL_DIRS for n in listdir(r, d)] + [SYSCTL_CONF]
        for rel in paths:
            try:
                out[rel] = r.read(rel)
            except OSError:
                continue
    return out


def boot_order(files: dict[str, str]) -> list[str]:
    """Paths (relative to the root) in the order the boot applies them. `files` maps every
    existing *.conf under SYSCTL_DIRS, and SYSCTL_CONF if present, to its contents."""
    names: dict[str, list[str]] = {}
    for path in files:
        d, _, name = path.rpartition("/")
        if d in SYSCTL_DIRS and name.endswith(".conf"):
            names.setdefault(d, []).append(name)
    return search_order(names, SYSCTL_DIRS) + ([SYSCTL_CONF] if SYSCTL_CONF in files else [])


def later_assignments(files: dict[str, str], ours: dict[str, str], our_path: str) -> list[str]:
    """Every file that sets one of our keys after our file (`our_path`), to another value:
    it wins at the next boot."""
    files = {**files, our_path: ""}
    order = boot_order(files)
    after = order[order.index(our_path) + 1 :] if our_path in order else []
    out = []
    for path in after:
        for s in confparse.sysctl_conf(files[path], path).settings:
            if s.key in ours and s.value != ours[s.key]:
                out.append(
                    f"/{path} sets {s.key} = {s.value} after tunekit's /{our_path} "
                    f"(= {ours[s.key]}): it wins at the next boot"
                )
    return out


def assignments(files: dict[str, str], our_path: str) -> dict[str, str]:
    """What each key gets from the boot files other than ours: key -> "path: line" of its
    last assignment (the one that wins, sysctl.d(5))."""
    from tunekit.knowledge.catalogue import canonical

    out: dict[str, str] = {}
    for path in boot_order(files):
        if path == our_path:
            continue
        for s in confparse.sysctl_conf(files[path], path).settings:
            if not s.problem:
                out[canonical(s.key)] = f"/{path}: {s.key} = {s.value}"
    return out


@dataclass
class NofileAtBoot:
    """The open-files limits the root's own files give at boot (tunekit's files left out):
    login sessions ('*' and root in limits.conf and limits.d) and services
    (DefaultLimitNOFILE=). tunekit's files apply after them, so never below them."""

    sessions: int = 0  # the largest soft or hard nofile a '*' or root line sets
    sessions_soft: int = 0  # the largest soft one
    services_soft: int = 0
    services_hard: int = 0
    # an unlimited hard limit ("unlimited", -1, infinity): pam_limits and systemd make it
    # fs.nr_open at boot (limits.conf(5); systemd's setrlimit_closest), the most any
    # number could give, so tunekit writes none below it
    sessions_unlimited: bool = False
    services_unlimited: bool = False
    where: list[str] = field(default_factory=list)  # "path: line", for the plan's note


def nofile_at_boot(root: Path, ours: tuple[str, ...]) -> NofileAtBoot:
    out = NofileAtBoot()
    for f in collect(root).files:
        if f.path in ours or f.format not in ("limits.conf", "system.conf"):
            continue
        parse = confparse.limits_conf if f.format == "limits.conf" else confparse.system_conf
        for s in parse(f.text, f.path).settings:
            if s.problem:
                continue
            if s.kind == "limits" and s.key == "nofile" and s.domain in ("*", "root"):
                if s.value == "unlimited" and s.type in ("hard", "-"):
                    out.sessions_unlimited = True
                    out.where.append(f"/{f.path}: {s.text.strip()}")
                if not s.value.isdigit():
                    continue
                if s.type in ("soft", "-"):
                    out.sessions_soft = max(out.sessions_soft, int(s.value))
                if int(s.value) > out.sessions:
                    out.sessions = int(s.value)
                    out.where.append(f"/{f.path}: {s.text.strip()}")
            elif s.kind == "systemd":  # the last DefaultLimitNOFILE= wins
                soft, _, hard = (w.strip() for w in (*s.value.partition(":"),))
                hard = hard or soft
                out.services_unlimited = hard == "infinity"
                if soft.isdigit():
                    out.services_soft = int(soft)
                if hard.isdigit():
                    out.services_hard = int(hard)
                if soft.isdigit() or hard == "infinity" or hard.isdigit():
                    out.where.append(f"/{f.path}: {s.text.strip()}")
    return out


def later_nofile(root: Path, ours: tuple[str, ...], hard: int) -> list[str]:
    """limits.d and system.conf.d files read after tunekit's own (`ours`: a name that
    sorts after its name, as pam_limits and systemd order them) that set a lower
    open-files hard limit: they win at boot, as a later sysctl.d file does."""
    out: list[str] = []
    for f in collect(root).files:
        d, _, name = f.path.rpartition("/")
        mine = next((p for p in ours if p.rpartition("/")[0].endswith(d.rpartition("/")[2])), None)
        if mine is None or f.path == mine or name <= mine.rpartition("/")[2]:
            continue
        parse = confparse.limits_conf if f.format == "limits.conf" else confparse.system_conf
        for s in parse(f.text, f.path).settings:
            value = s.value.rpartition(":")[2] if s.kind == "systemd" else s.value
            nofile = s.kind == "systemd" or (s.key == "nofile" and s.type != "soft")
            if nofile and value.isdigit() and int(value) < hard:
                out.append(
                    f"/{f.path} sets {s.text.strip()} after tunekit's /{mine} "
                    f"(hard {hard:,}): it wins at the next boot"
                )
    return out
