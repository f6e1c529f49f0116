"""Read the tuning files a host carries, line by line, as the tool that applies them would.

Each format becomes a list of Settings (one assignment each, with its file and line) and
of Problems (a line the applying tool would reject or misread: the `syntax` findings).
What the applying tool does is the reference:
- sysctl.conf / sysctl.d (sysctl.d(5), systemd-sysctl, procps `sysctl -p`): `key = value`,
  `#` and `;` start a comment only at the start of a line, a leading `-` on the key
  ignores a failed write, and the value is written as is (quotes included);
- `sysctl -a` output: the same syntax, a snapshot of the values of a running kernel;
- limits.conf (limits.conf(5), pam_limits): `domain type item value`;
- shell scripts: `sysctl -w name=value` (one word per setting, after the shell's own
  quoting), `sysctl -p [FILE]`, `echo V > /proc/sys/...` and `ulimit -n N`;
- systemd system.conf (systemd-system.conf(5)): `DefaultLimitNOFILE=soft[:hard]`;
- modprobe.d (modprobe.d(5)): `options MODULE param=value ...`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from tunekit.knowledge.catalogue import SNAPSHOT_MARKERS

FORMATS = ("sysctl.conf", "sysctl-a", "limits.conf", "script", "system.conf", "modprobe.d")

LIMIT_TYPES = ("soft", "hard", "-")
LIMIT_ITEMS = frozenset(
    "core data fsize memlock nofile rss stack cpu nproc as maxlogins maxsyslogins "
    "nonewprivs priority locks sigpending msgqueue nice rtprio".split()
)
_SYSCTL_NAME = re.compile(r"^-?[A-Za-z0-9_*?\[\]][A-Za-z0-9_.*?\[\]/:@+-]*$")
_PROC_SYS = re.compile(r"^/proc/sys/([A-Za-z0-9_./:@+-]+)$")
_INT = re.compile(r"^-?[0-9]+$")


@dataclass
class Setting:
    """One assignment. kind: sysctl, limits, ulimit, systemd or modprobe. key: the dotted
    sysctl name; for limits and ulimit the item (nofile); for systemd the setting name;
    for modprobe MODULE.param."""

    file: str
    line: int
    kind: str
    key: str
    value: str
    text: str  # the line as written
    ignore_errors: bool = False  # sysctl.d: a leading '-'
    domain: str = ""  # limits.conf
    type: str = ""  # limits.conf: soft, hard or '-' (both)
    problem: str | None = None  # a syntax problem found on this line (a check id)

    @property
    def ints(self) -> list[int] | None:
        parts = self.value.split()
        if parts and all(_INT.match(p) and len(p) <= MAX_DIGITS + 1 for p in parts):
            return [int(p) for p in parts]
        return None


@dataclass
class Problem:
    """A line the applying tool rejects or misreads. `check` names the rule that explains it."""

    file: str
    line: int
    check: str
    text: str
    key: str = ""
    value: str = ""


@dataclass
class Parsed:
    format: str
    settings: list[Setting] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _lines(text: str):
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and line[0] not in "#;":
            yield number, raw.rstrip(), line


def normalise(name: str) -> str:
    """sysctl.d(5): '/' and '.' separators are interchangeable; the dotted form is shown."""
    return name.strip().lstrip("-").strip("/").replace("/", ".")


# --- sysctl.conf ----------------------------------------------------------------------


def sysctl_conf(text: str, file: str, fmt: str = "sysctl.conf") -> Parsed:
    out = Parsed(fmt)
    for number, raw, line in _lines(text):
        key, sep, value = line.partition("=")
        name = key.strip()
        if not sep or not name:
            out.problems.append(Problem(file, number, "not-assignment", raw))
            continue
        if not _SYSCTL_NAME.match(name) or not _parts_ok(normalise(name)):
            out.problems.append(Problem(file, number, "bad-name", raw, name))
            continue
        value = " ".join(value.split())
        s = Setting(file, number, "sysctl", normalise(name), value, raw, name.startswith("-"))
        s.problem = _value_problem(value)
        out.settings.append(s)
    return out


def _parts_ok(name: str) -> bool:
    """No empty component (net..core.x), none that is . or .. (the kernel has no such key;
    systemd-sysctl and procps fail on the path)."""
    return all(p not in ("", ".", "..") for p in name.split("."))


MAX_DIGITS = 20  # 2^64 - 1 has 20 digits: no sysctl takes a longer number


def _value_problem(value: str) -> str | None:
    if not value:
        return "empty-value"
    if any(p.lstrip("-").isdigit() and len(p.lstrip("-")) > MAX_DIGITS for p in value.split()):
        return "number-too-long"
    if value[0] in "\"'" or value[-1] in "\"'":
        return "quoted"
    if "#" in value:
        return "inline-comment"
    return None


# --- limits.conf ----------------------------------------------------------------------


def limits_conf(text: str, file: str) -> Parsed:
    out = Parsed("limits.conf")
    for number, raw, line in _lines(text):
        fields = line.split("#", 1)[0].split()
        if len(fields) != 4 or fields[1] not in LIMIT_TYPES or fields[2] not in LIMIT_ITEMS:
            out.problems.append(Problem(file, number, "bad-limits-line", raw))
            continue
        domain, typ, item, value = fields
        s = Setting(file, number, "limits", item, value, raw, domain=domain, type=typ)
        number_ok = _INT.match(value) and len(value) <= MAX_DIGITS
        if not (number_ok or value in ("unlimited", "infinity")):
            s.problem = "bad-limit-value"
        out.settings.append(s)
    return out


# --- shell scripts ----------------------------------------------------------------------


def script(text: str, file: str) -> Parsed:
    out = Parsed("script")
    for number, raw, line in _lines(text):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue  # an unfinished quote: not a line this reader understands
        for cmd in _commands(words):
            _script_command(cmd, file, number, raw, out)
    return out


def _commands(words: list[str]):
    """Split a command line on ; && || and drop a leading sudo."""
    cmd: list[str] = []
    for w in words + [";"]:
        if w in (";", "&&", "||"):
            while cmd and cmd[0] in ("sudo", "exec", "command"):
                cmd = cmd[1:]
            if cmd:
                yield cmd
            cmd = []
        else:
            cmd.append(w)


def _script_command(cmd: list[str], file: str, number: int, raw: str, out: Parsed) -> None:
    name = cmd[0].rsplit("/", 1)[-1]
    if name == "sysctl":
        _sysctl_command(cmd[1:], file, number, raw, out)
    elif name == "ulimit":
        _ulimit_command(cmd[1:], file, number, raw, out)
    elif name == "echo" and len(cmd) >= 3 and cmd[-2] == ">":
        m = _PROC_SYS.match(cmd[-1])
        if m:
            value = " ".join(" ".join(w for w in cmd[1:-2] if not w.startswith("-")).split())
            out.settings.append(Setting(file, number, "sysctl", normalise(m[1]), value, raw))


def _sysctl_command(args: list[str], file: str, number: int, raw: str, out: Parsed) -> None:
    """procps sysctl: with -w every argument must be one name=value word; with -p the rest
    are files to load; without either, an argument with '=' is still a write."""
    words = [a for a in args if not a.startswith("-")]
    if any(a.startswith("-") and "p" in a.lstrip("-") for a in args) or "--load" in args:
        out.settings.append(Setting(file, number, "load", "sysctl -p", " ".join(words), raw))
        return
    writing = any(a in ("-w", "--write") for a in args)
    i = 0
    while i < len(words):
        word = words[i]
        name, sep, value = word.partition("=")
        if sep and name:
            out.settings.append(_sysctl_setting(file, number, name, value, raw))
        elif writing and i + 1 < len(words) and words[i + 1].startswith("="):
            # `sysctl -w key ="a b"`: the shell makes two words and both are refused;
            # what was meant is still linted.
            meant = _sysctl_setting(file, number, word, words[i + 1][1:], raw)
            meant.problem = "split-assignment"
            out.settings.append(meant)
            i += 1
        elif writing:
            out.problems.append(Problem(file, number, "not-assignment", raw, normalise(word)))
        i += 1


def _sysctl_setting(file: str, number: int, name: str, value: str, raw: str) -> Setting:
    return Setting(file, number, "sysctl", normalise(name), " ".join(value.split()), raw)


def _ulimit_command(args: list[str], file: str, number: int, raw: str, out: Parsed) -> None:
    flags = "".join(a.lstrip("-") for a in args if a.startswith("-"))
    values = [a for a in args if not a.startswith("-")]
    if "n" not in flags or not values:
        return
    typ = "hard" if "H" in flags and "S" not in flags else ("soft" if "S" in flags else "-")
    s = Setting(file, number, "ulimit", "nofile", values[0], raw, type=typ)
    if not (_INT.match(values[0]) or values[0] == "unlimited"):
        s.problem = "bad-limit-value"
    out.settings.append(s)


# --- systemd and modprobe ---------------------------------------------------------------


def system_conf(text: str, file: str) -> Parsed:
    out = Parsed("system.conf")
    section = ""
    for number, raw, line in _lines(text):
        if line.startswith("["):
            section = line.strip("[] ")
            continue
        name, sep, value = line.partition("=")
        if not sep:
            out.problems.append(Problem(file, number, "not-assignment", raw))
        elif section == "Manager" and name.strip() == "DefaultLimitNOFILE":
            out.settings.append(
                Setting(file, number, "systemd", "DefaultLimitNOFILE", value.strip(), raw)
            )
    return out


def modprobe_conf(text: str, file: str) -> Parsed:
    out = Parsed("modprobe.d")
    for number, raw, line in _lines(text):
        words = line.split()
        if words[0] != "options" or len(words) < 3:
            continue
        module = words[1].replace("-", "_")
        for opt in words[2:]:
            name, sep, value = opt.partition("=")
            if not sep:
                out.problems.append(Problem(file, number, "bad-option", raw, f"{module}.{opt}"))
                continue
            out.settings.append(Setting(file, number, "modprobe", f"{module}.{name}", value, raw))
    return out


def modules_load(text: str) -> set[str]:
    """modules-load.d(5): one module name per line."""
    return {line.replace("-", "_") for _, _, line in _lines(text)}


# --- recognising a file ----------------------------------------------------------------

_LIMITS_LINE = re.compile(r"^\S+\s+(soft|hard|-)\s+\S+\s+\S+\s*$")
_SYSCTL_LINE = re.compile(r"^-?[A-Za-z0-9_][A-Za-z0-9_.*/:@+-]*\s*=")
_SCRIPT_LINE = re.compile(r"(^|[\s;&|])(sudo\s+)?(\S*/)?(sysctl|ulimit)\s|>\s*/proc/sys/|^#!")
_SYSTEMD_LINE = re.compile(r"^\[Manager\]|^DefaultLimit[A-Z]+=")
_MODPROBE_LINE = re.compile(r"^(options|install|blacklist|alias|softdep)\s+\S+")


def detect(text: str) -> str | None:
    """The format whose line pattern matches the most lines; None if no line matches."""
    scores = dict.fromkeys(("sysctl.conf", "limits.conf", "script", "system.conf", "modprobe.d"), 0)
    markers = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#!"):
            scores["script"] += 5
        if not line or line[0] in "#;":
            continue
        scores["script"] += bool(_SCRIPT_LINE.search(line)) * 2
        scores["limits.conf"] += bool(_LIMITS_LINE.match(line))
        scores["sysctl.conf"] += bool(_SYSCTL_LINE.match(line))
        scores["system.conf"] += bool(_SYSTEMD_LINE.match(line)) * 2
        scores["modprobe.d"] += bool(_MODPROBE_LINE.match(line))
        markers += line.partition("=")[0].strip() in SNAPSHOT_MARKERS
    best = max(scores, key=lambda f: scores[f])
    if not scores[best]:
        return None
    return "sysctl-a" if best == "sysctl.conf" and markers else best


PARSERS = {
    "sysctl.conf": sysctl_conf,
    "sysctl-a": lambda text, file: sysctl_conf(text, file, "sysctl-a"),
    "limits.conf": limits_conf,
    "script": script,
    "system.conf": system_conf,
    "modprobe.d": modprobe_conf,
}


def parse(text: str, file: str, fmt: str) -> Parsed:
    return PARSERS[fmt](text, file)
