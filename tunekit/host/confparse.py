"""Read the tuning files a host carries, line by line, as the tool that applies them would.

Each format becomes a list of Settings (one assignment each, with its file and line) and
of Problems (a line the applying tool would reject or misread: the `syntax` findings).
What the applying tool does is the reference:
- sysctl.conf / sysctl.d (sysctl.d(5), systemd-sysctl, procps `sysctl -p`): `key = value`,
  `#` and `;` start a comment only at the start of a line, a leading `-` on the key
  ignores a failed write, and the value is written as is (quotes included);
- `sysctl -a` output: the same syntax, a snapshot of the values of a running kernel;
- limits.conf (limits.conf(5), pam_limits): `domain type item value`;
- shell scripts (confscript.py): `sysctl -w name=value`, `echo V > /proc/sys/...`,
  `echo V | tee /proc/sys/...`, lines echoed or written by a here-document into a
  sysctl.conf or limits.conf, and `ulimit -n N`;
- systemd system.conf (systemd-system.conf(5)): `DefaultLimitNOFILE=soft[:hard]`;
- modprobe.d (modprobe.d(5)): `options MODULE param=value ...`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from tunekit.knowledge import bounds, kernel_modparams
from tunekit.knowledge.catalogue import SNAPSHOT_MARKERS

FORMATS = (
    "sysctl.conf",
    "sysctl-a",
    "limits.conf",
    "script",
    "system.conf",
    "modprobe.d",
    "yaml",
    "dockerfile",
    "nix",
    "tuned",
    "chef",
    "puppet",
    "markdown",
    "hcl",
)

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
    # where it applies when not on this host's boot: "runtime" (a container runtime sets it
    # in the container's namespaces), "image" (written while a container image is built)
    context: str = ""
    # NixOS: the definition's priority (mkForce 50, plain 100, mkDefault 1000): the
    # strongest is in force whatever the file order (host/confnix.py)
    priority: int | None = None
    # Ansible: a task that fails when this write fails (the sysctl module's `sysctl -w` or
    # `sysctl -p` reload, no ignore_errors), so the host runs none of the later tasks
    stops_play: bool = False
    task: int = 0  # Ansible: the line of the task the setting comes from (its loop items share it)
    # YAML read with its template control lines blanked: the lines of every branch are
    # read, so one does not override another
    templated: bool = False
    # a TuneD profile that includes another: the parent's values, which a line may undo,
    # are not known, so the line is never called a no-op
    inherits: bool = False

    @property
    def ints(self) -> list[int] | None:
        numbers = _ints(self.value)  # asked for many times per line: read once per text
        return list(numbers) if numbers is not None else None


@functools.lru_cache(maxsize=4096)
def _ints(value: str) -> tuple[int, ...] | None:
    """The numbers of a value as the kernel reads them ("0x10" and "010" too), or None."""
    parts = value.split()
    if not parts or any(len(p) > MAX_DIGITS + 1 for p in parts):
        return None
    numbers = [bounds.kernel_integer(p) for p in parts]
    return None if None in numbers else tuple(numbers)  # type: ignore[arg-type]


@dataclass
class Problem:
    """A line the applying tool rejects or misreads. `check` names the rule that explains it."""

    file: str
    line: int
    check: str
    text: str
    key: str = ""
    value: str = ""
    extra: dict = field(default_factory=dict)  # names the check's text uses (writer, target)


@dataclass
class Parsed:
    format: str
    settings: list[Setting] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # what a reader stopped before (why)


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
        if "." not in s.key and not any(c in s.key for c in "*?["):
            s.problem = "bare-name"  # a tree's name, or a key without its tree (tcp_sack)
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


# pam_limits' spellings of "no limit" (process_limit: "-1", "-", "unlimited", "infinity"),
# except for the items that take a signed number (priority, nice) or a count of logins
UNLIMITED_SPELLINGS = ("-1", "-", "unlimited", "infinity")
_SIGNED_ITEMS = ("priority", "nice", "maxlogins", "maxsyslogins")


def limits_conf(text: str, file: str) -> Parsed:
    out = Parsed("limits.conf")
    for number, raw, line in _lines(text):
        fields = line.split("#", 1)[0].split()
        if len(fields) != 4 or fields[1] not in LIMIT_TYPES or fields[2] not in LIMIT_ITEMS:
            out.problems.append(Problem(file, number, "bad-limits-line", raw))
            continue
        domain, typ, item, value = fields
        if value in UNLIMITED_SPELLINGS and item not in _SIGNED_ITEMS:
            value = "unlimited"  # pam_limits.c process_limit: all four are RLIM_INFINITY
        s = Setting(file, number, "limits", item, value, raw, domain=domain, type=typ)
        number_ok = _INT.match(value) and len(value) <= MAX_DIGITS
        if not (number_ok or value == "unlimited"):
            s.problem = "bad-limit-value"
        out.settings.append(s)
    return out


# --- systemd and modprobe ---------------------------------------------------------------


# systemd.exec(5) Limit*= -> the limits.conf item; sizes are bytes there, KiB here
UNIT_LIMITS = {
    "LimitCPU": "cpu", "LimitFSIZE": "fsize", "LimitDATA": "data", "LimitSTACK": "stack",
    "LimitCORE": "core", "LimitRSS": "rss", "LimitNOFILE": "nofile", "LimitAS": "as",
    "LimitNPROC": "nproc", "LimitMEMLOCK": "memlock", "LimitLOCKS": "locks",
    "LimitSIGPENDING": "sigpending", "LimitMSGQUEUE": "msgqueue", "LimitNICE": "nice",
    "LimitRTPRIO": "rtprio",
}  # fmt: skip
_KIB_ITEMS = {"fsize", "data", "stack", "core", "rss", "as", "memlock"}
# what systemd's rlimit parser takes: a number (with a size suffix, or a time unit for
# LimitCPU/LimitRTTIME) or infinity; anything else and the directive is ignored
_UNIT_VALUE = re.compile(r"^(infinity|\d+(\.\d+)?\s*([KMGTPE]i?B?|[a-z]+)?)$")
_SUFFIX = {"K": 1, "M": 1 << 10, "G": 1 << 20, "T": 1 << 30, "P": 1 << 40, "E": 1 << 50}


def system_conf(text: str, file: str) -> Parsed:
    """systemd's system.conf (DefaultLimitNOFILE= of [Manager]) and a unit's [Service]
    Limit*= lines (each a limit of that service alone, `domain = "unit"`)."""
    out = Parsed("system.conf")
    section = ""
    for number, raw, line in _lines(text):
        if line.startswith("["):
            section = line.strip("[] ")
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep:
            out.problems.append(Problem(file, number, "not-assignment", raw))
        elif section == "Manager" and name == "DefaultLimitNOFILE":
            out.settings.append(Setting(file, number, "systemd", "DefaultLimitNOFILE", value, raw))
        elif section == "Service" and name in UNIT_LIMITS:
            item = UNIT_LIMITS[name]
            soft, _, hard = value.partition(":")
            for typ, text_value in (("soft", soft), ("hard", hard)) if hard else (("-", soft),):
                limit = _unit_limit(item, text_value.strip())
                s = Setting(file, number, "limits", item, limit, raw, domain="unit", type=typ)
                s.context = "unit"
                if not _UNIT_VALUE.match(text_value.strip()):
                    s.problem = "bad-unit-limit"  # `64000 # open files`: the whole line is ignored
                out.settings.append(s)
    return out


def _unit_limit(item: str, text: str) -> str:
    """A Limit*= value as limits.conf writes it: infinity is unlimited, sizes in KiB."""
    if text in ("infinity", "unlimited"):
        return "unlimited"
    if item not in _KIB_ITEMS:
        return text
    m = re.match(r"^(\d+)([KMGTPE]?)$", text)
    if not m:
        return text
    kib = int(m[1]) * _SUFFIX[m[2]] if m[2] else int(m[1]) / 1024
    return str(int(kib)) if kib == int(kib) else text


def modprobe_conf(text: str, file: str) -> Parsed:
    out = Parsed("modprobe.d")
    for number, raw, line in _lines(text):
        words = line.split()
        if words[0] != "options" or len(words) < 3:
            continue
        module = words[1].replace("-", "_")
        for opt in words[2:]:
            name, sep, value = opt.partition("=")
            if not sep and kernel_modparams.kind(module, name.replace("-", "_")) == "bool":
                value = "1"  # kernel/params.c param_set_bool: "No equals means set"
            elif not sep:
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
_SCRIPT_LINE = re.compile(
    r"(^|[\s;&|])(sudo\s+)?(\S*/)?(sysctl|ulimit)\s|>\s*/proc/sys/|\btee\s+(-\S+\s+)*/"
    r"|^(sudo\s+)?(echo|printf|cat)\s.*>>?\s*/etc/|^#!"
)
# a here-document: its body lines look like the file they are written to, not like a
# script, so one of these outweighs them
_HEREDOC_LINE = re.compile(r"(?<!<)<<(?!<)-?\s*['\"]?[A-Za-z_]")
# `echo "` with the quote left open: the lines up to the closing quote are the string echo
# prints (written to a file by its redirection or tee), as a here-document's are
_OPEN_STRING = re.compile(r"^(sudo\s+)?(echo|printf)(\s+-[neE]+)*\s+(\"[^\"]*|'[^']*)$")
_SYSTEMD_LINE = re.compile(r"^\[(Manager|Service)\]|^(Default)?Limit[A-Z]+=")
# a YAML key that carries tuning: compose/Kubernetes sysctls, an Ansible or Salt module
_YAML_LINE = re.compile(
    r"^(-\s+)?(sysctls|(ansible\.posix\.)?sysctl|(community\.general\.)?pam_limits"
    r"|sysctl\.present|(ansible\.builtin\.)?(lineinfile|blockinfile|shell|command|raw)"
    r"|runcmd|bootcmd|write_files):(\s|$)"
)
# the sections of a TuneD profile (its plug-ins, and [main]); none is a systemd section
_TUNED_SECTION = re.compile(
    r"^[ \t]*\[(main|sysctl|vm|scheduler|cpu|disk|net|bootloader|sysfs|script|audio|video"
    r"|selinux|usb|irqbalance|modules|service|variables|mounts|eeepc_she|acpi|uncore|rtentsk)"
    r"\]\s*$",
    re.M,
)
_MODPROBE_LINE = re.compile(r"^(options|install|blacklist|alias|softdep)\s+\S+")


def placed(parsed: Parsed, out: Parsed, line: int, text: str) -> None:
    """Every setting and problem of `parsed` into `out`, at one line of the file, shown as
    that line's text (a value read out of a resource, a string, a command)."""
    items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
    for item in items:
        item.line, item.text = line, text
    out.settings += parsed.settings
    out.problems += parsed.problems


def detect(text: str) -> str | None:
    """The format whose line pattern matches the most lines; None if no line matches."""
    first = next(
        (line.strip() for line in text.splitlines() if line.strip()[:1] not in ("#", "")), ""
    )
    if text.startswith("#cloud-config"):
        return "yaml"  # cloud-init's user data (its first line says so)
    if _TUNED_SECTION.search(text):
        return "tuned"  # a TuneD profile: [main], [sysctl], [vm] ... sections
    if re.match(r"^FROM\s+\S+", first, re.I) and re.search(
        r"^[ \t]*(RUN|CMD|ENTRYPOINT)\s", text, re.M | re.I
    ):
        return "dockerfile"  # an image's build: FROM first, then instructions
    formats = ("sysctl.conf", "limits.conf", "script", "system.conf", "modprobe.d", "yaml")
    scores = dict.fromkeys(formats, 0)
    markers = 0
    quote = ""  # inside an open string: the quote that closes it
    for raw in text.splitlines():
        line = raw.strip()
        if quote:
            quote = "" if quote in line else quote
            continue
        if line.startswith("#!"):
            scores["script"] += 5
        if not line or line[0] in "#;":
            continue
        if m := _OPEN_STRING.match(line):
            quote = m[4][0]
            scores["script"] += 100
            continue
        scores["script"] += bool(_SCRIPT_LINE.search(line)) * 2
        scores["script"] += bool(_HEREDOC_LINE.search(line)) * 100
        scores["limits.conf"] += bool(_LIMITS_LINE.match(line))
        scores["sysctl.conf"] += bool(_SYSCTL_LINE.match(line))
        scores["system.conf"] += bool(_SYSTEMD_LINE.match(line)) * 2
        scores["modprobe.d"] += bool(_MODPROBE_LINE.match(line))
        scores["yaml"] += bool(_YAML_LINE.match(line)) * 10
        markers += line.partition("=")[0].strip() in SNAPSHOT_MARKERS
    best = max(scores, key=lambda f: scores[f])
    if not scores[best]:
        return None
    return "sysctl-a" if best == "sysctl.conf" and markers else best


def script(text: str, file: str) -> Parsed:
    from tunekit.host import confscript  # which reads the other formats through this module

    return confscript.script(text, file)


_NEVER_RUN_CMD = ("cmd-replaced", "cmd-ignored")  # a later CMD, a shell-form ENTRYPOINT
_NEVER_RUN = (*_NEVER_RUN_CMD, "dockerfile-unknown-instruction")
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(?:\s+(.*))?$")


def _instructions(rows: list[str]) -> list[tuple[str, str, list[tuple[int, str]]]]:
    """A Dockerfile's instructions: (keyword, arguments joined, [(row, that row's part)]),
    continuation lines (`\\` at the end) joined as the builder joins them, comment lines
    inside one dropped."""
    out: list[tuple[str, str, list[tuple[int, str]]]] = []
    n = 0
    while n < len(rows):
        m = _INSTRUCTION.match(rows[n])
        if not m or rows[n].lstrip().startswith("#"):
            n += 1
            continue
        parts = [(n, m[2] or "")]
        while re.search(r"\\[ \t]*$", parts[-1][1]) and n + 1 < len(rows):
            n += 1
            # a comment line is dropped: a lone backslash keeps the line joined across it
            parts.append((n, "\\" if rows[n].lstrip().startswith("#") else rows[n]))
        joined = " ".join(p.rstrip().removesuffix("\\").strip() for _, p in parts)
        out.append((m[1].upper(), joined.strip(), parts))
        n += 1
    return out


# buildkit's instructions (frontend/dockerfile/instructions/parse.go ParseInstruction):
# any other word at an instruction's start fails the whole build ("dockerfile parse error
# on line N: unknown instruction: X"), so no stage is built and nothing in the file runs
_KNOWN_INSTRUCTIONS = {
    "ENV", "MAINTAINER", "LABEL", "ADD", "COPY", "FROM", "ONBUILD", "WORKDIR", "RUN", "CMD",
    "HEALTHCHECK", "ENTRYPOINT", "EXPOSE", "USER", "VOLUME", "STOPSIGNAL", "ARG", "SHELL",
}  # fmt: skip
_DOCKER_HEREDOC = re.compile(r"<<-?\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1")


def _escape(rows: list[str]) -> str:
    """The escape character a `# escape=X` parser directive sets (only in the comments at
    the very top, before anything else: the Dockerfile reference), else a backslash."""
    for row in rows:
        m = re.match(r"^#\s*(\w+)\s*=\s*(\S+)\s*$", row.strip())
        if not m:
            return "\\"
        if m[1].lower() == "escape":
            return m[2]
    return "\\"


def _unknown_rows(rows: list[str]) -> list[int]:
    """The rows that start an instruction buildkit does not know (`&& echo ...` after a
    RUN whose line lost its backslash): continuation lines, comments and the bodies of
    RUN/COPY here-documents are not instructions."""
    out: list[int] = []
    if _escape(rows) != "\\":
        return out  # `# escape=``: lines go on after a backtick (Windows images), not read here
    n = 0
    while n < len(rows):
        text = rows[n].strip()
        if not text or text.startswith("#"):
            n += 1
            continue
        m = _INSTRUCTION.match(rows[n])
        if m is None or m[1].upper() not in _KNOWN_INSTRUCTIONS:
            out.append(n)
            n += 1
            continue
        joined, last = rows[n], rows[n]
        while re.search(r"\\[ \t]*$", last) and n + 1 < len(rows):
            n += 1
            # a comment or blank line inside is dropped: the instruction goes on after it
            skipped = not rows[n].strip() or rows[n].lstrip().startswith("#")
            last = "\\" if skipped else rows[n]
            joined += rows[n]
        for heredoc in _DOCKER_HEREDOC.finditer(joined):
            while n + 1 < len(rows) and rows[n + 1].strip() != heredoc[2]:
                n += 1
            n += 1  # the closing word
        n += 1
    return out


def _run_heredocs(rows: list[str], parts: list[tuple[int, str]], lines: list[str]) -> None:
    """buildkit's `RUN <<EOF` ... `EOF`: the here-document is the script the shell runs
    (`RUN python3 <<EOF`: that command's input); its lines are put in place for the
    script reader, which reads them as any here-document. A body whose first line names
    an interpreter that is no shell is not read."""
    last = parts[-1][0]
    for heredoc in _DOCKER_HEREDOC.finditer(" ".join(p for _, p in parts)):
        body = last + 1
        end = body
        while end < len(rows) and rows[end].strip() != heredoc[2]:
            end += 1
        first = rows[body].strip() if body < len(rows) else ""
        if first.startswith("#!") and not re.search(r"\b(?:ba|da|k|z)?sh\b", first):
            return
        for row in range(body, min(end + 1, len(rows))):
            lines[row] = rows[row]
        last = end
    row, part = parts[0]
    if _DOCKER_HEREDOC.match(part.strip()) and last != parts[-1][0]:
        lines[row] = "sh " + lines[row].lstrip()  # `RUN <<EOF`: the default shell runs it


def _exec_form(args: str) -> bool:
    """`["prog", "arg"]`: a JSON array (single quotes are not JSON: the shell form)."""
    import json

    if not args.startswith("["):
        return False
    try:
        return isinstance(json.loads(args), list)
    except ValueError:
        return False


def _copy(parts: list[tuple[int, str]], into: list[str]) -> None:
    """A shell-form CMD's text into `into`, each part at its own row."""
    for row, part in parts:
        into[row] = part


# su, runuser, login, sshd as a word (not su-exec or gosu, which open no PAM session)
_PAM_COMMAND = re.compile(
    r"^[ \t]*(CMD|ENTRYPOINT)\b.*(?<![\w-])(su|runuser|login|sshd)(?![\w-])", re.M | re.I
)


def image_scripts(text: str) -> tuple[set[str], bool]:
    """The scripts a Dockerfile's RUN instructions run, by file name (`RUN /tmp/k.sh`,
    `RUN bash ./k.sh`), and whether its command opens a PAM session (su, runuser,
    login, sshd): what lint needs to judge those scripts, given with it, as the image's."""
    names: set[str] = set()
    for word, args, _ in _instructions(text.splitlines()):
        if word == "RUN" and not _exec_form(args):
            names.update(m.rsplit("/", 1)[-1] for m in re.findall(r"[\w./-]+\.(?:sh|bash)\b", args))
    return names, bool(_PAM_COMMAND.search(text))


def dockerfile(text: str, file: str) -> Parsed:
    """A Dockerfile (Containerfile): its RUN lines are shell, run by /bin/sh -c while the
    image is built; the other instructions run nothing. Read as a script, each line at its
    own number, and every setting marked as the image's (`context = "image"`)."""
    rows = text.splitlines()
    lines = ["" for _ in rows]  # FROM, ENV, COPY, CMD ...: nothing the build runs
    for word, args, parts in _instructions(rows):
        if word == "RUN" and not _exec_form(args):
            for row, part in parts:  # `\\ ` with spaces after it continues too (buildkit)
                lines[row] = re.sub(r"\\[ \t]+$", "\\\\", part)
            _run_heredocs(rows, parts, lines)
    from tunekit.host import confscript

    # RUN runs as root unless a USER instruction says otherwise
    root = not re.search(r"^[ \t]*USER\s+(?!root\b|0\b)\S", text, re.M | re.I)
    parsed = confscript.script("\n".join(lines), file, as_root=root)
    parsed.format = "dockerfile"
    # a container whose command opens a PAM session (su, runuser, login, sshd) has
    # pam_limits apply the image's limits files to it: those lines are not claimed
    pam = _PAM_COMMAND.search(text)
    for s in parsed.settings:
        s.context = "image-pam" if pam and s.kind == "limits" else "image"
    # "If you have multiple CMD, HEALTHCHECK, or ENTRYPOINT instructions in your
    # Dockerfile, only the last occurrence is used" (Docker's build checks): an earlier
    # CMD never runs. Counted within one build stage (`--target` runs an earlier stage's
    # own CMD; a stage FROM an earlier one inherits its ENTRYPOINT). And "the shell form
    # [of ENTRYPOINT] prevents any CMD or run command line arguments from being used" (the
    # Dockerfile reference): moby appends CMD to `/bin/sh -c ENTRY` as $0 $1 ..., so under
    # a shell-form ENTRYPOINT that does not pass "$0" "$@" on, even the last CMD never runs.
    rows = text.splitlines()
    never: dict[str, list[str]] = {p: ["" for _ in rows] for p in _NEVER_RUN}
    for row in _unknown_rows(rows):
        never["dockerfile-unknown-instruction"][row] = rows[row].strip().lstrip("&|;").strip()
    cmds: list[list[tuple[int, str]]] = []  # the shell-form CMDs of the stage being read
    shell_entry, stage, entries = False, "", {}  # entries: a stage's name -> its shell_entry
    for word, args, parts in [*_instructions(rows), ("FROM", "end", [])]:
        if word == "FROM":
            for cmd in cmds[:-1]:
                _copy(cmd, never["cmd-replaced"])
            if cmds and shell_entry:
                _copy(cmds[-1], never["cmd-ignored"])
            entries[stage] = shell_entry
            words = [w.lower() for w in args.split() if not w.startswith("--")]
            base = words[0] if words else ""
            stage = words[2] if len(words) > 2 and words[1] == "as" else ""
            cmds, shell_entry = [], entries.get(base, False)
        elif word == "CMD":
            cmds.append([] if _exec_form(args) else parts)  # the exec form replaces as well
        elif word == "ENTRYPOINT":
            forwards = re.search(r"\$[@*0-9]|\$\{[@*0-9]", args)
            shell_entry = bool(args) and not _exec_form(args) and not forwards
    for problem, lines in never.items():
        if any(lines):
            for s in confscript.script("\n".join(lines), file, as_root=root).settings:
                s.problem, s.context = problem, "image"
                parsed.settings.append(s)
    return parsed


def yaml(text: str, file: str) -> Parsed:
    """YAML (host/confyaml.py); a file named .yaml that holds another format's lines (a
    sysctl.conf kept under that name) is read as that format, not passed as empty."""
    from tunekit.host import confyaml

    parsed = confyaml.yaml_file(text, file)
    if not (parsed.settings or parsed.problems):
        other = detect(text)
        if other not in (None, "yaml"):
            return parse(text, file, other)
    return parsed


PARSERS = {
    "sysctl.conf": sysctl_conf,
    "sysctl-a": lambda text, file: sysctl_conf(text, file, "sysctl-a"),
    "limits.conf": limits_conf,
    "script": script,
    "system.conf": system_conf,
    "modprobe.d": modprobe_conf,
    "yaml": yaml,
    "dockerfile": dockerfile,
    "nix": lambda text, file: _nix(text, file),
    "tuned": lambda text, file: _tuned(text, file),
    "chef": lambda text, file: _chef(text, file),
    "puppet": lambda text, file: _puppet(text, file),
    "markdown": lambda text, file: _embedded("markdown", text, file),
    "hcl": lambda text, file: _embedded("hcl", text, file),
}


def _embedded(fmt: str, text: str, file: str) -> Parsed:
    from tunekit.host import confembed

    return confembed.markdown(text, file) if fmt == "markdown" else confembed.hcl(text, file)


def _puppet(text: str, file: str) -> Parsed:
    from tunekit.host import confpuppet

    return confpuppet.puppet(text, file)


def _chef(text: str, file: str) -> Parsed:
    from tunekit.host import confchef

    return confchef.chef(text, file)


def _tuned(text: str, file: str) -> Parsed:
    from tunekit.host import conftuned

    return conftuned.tuned(text, file)


def _nix(text: str, file: str) -> Parsed:
    from tunekit.host import confnix

    return confnix.nix(text, file)


def parse(text: str, file: str, fmt: str) -> Parsed:
    return PARSERS[fmt](text, file)
