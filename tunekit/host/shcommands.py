"""What one shell command writes: sysctl -w and -p, echo or printf into /proc/sys or
a tuning file (through > or tee), a here-document copied (or not) by its writer, ulimit.
The words reach here already split by shwords.py; confscript.py runs the script."""

from __future__ import annotations

import re

from tunekit.host import confparse
from tunekit.host.confparse import Parsed, Problem, Setting, normalise
from tunekit.host.shwords import echoed, fd1, fd_other, name_of, redirect, split_fd

PROC_SYS = re.compile(r"^/proc/sys/([A-Za-z0-9_./:@+-]+)$")
SYSFS = re.compile(r"^/sys/[A-Za-z0-9_./:@+-]+$")
_INT = re.compile(r"^-?[0-9]+$")
COPIES_STDIN = ("cat", "tee")  # writers that copy their standard input to their output


def command(
    cmd,
    file: str,
    number: int,
    raw: str,
    out: Parsed,
    span: int = 1,
    bash: bool | None = None,
    sudo: tuple[bool, ...] = (),
    lead: int = 0,
) -> None:
    """`lead`: the lines a backslash joined before a quoted string opened over lines (`echo \\`
    then `"a` ... `b" > FILE`): where the string's first line is."""
    first, target = redirect(cmd[0])
    name = first[0].rsplit("/", 1)[-1] if first else ""
    fd = fd_other(cmd[0]) if name in ("echo", "printf") else None
    if fd is not None and (m := PROC_SYS.match(fd[1])):
        key, extra = normalise(m[1]), {"fd": fd[0]}
        if len(fd[0]) == 1 or bash:  # a descriptor in every shell, or in this one (bash)
            out.problems.append(Problem(file, number, "echo-fd-other", raw, key, fd[0], extra))
            return
        # dash reads only one digit before > as a descriptor: there the number is echoed
        out.problems.append(Problem(file, number, "echo-fd-shell", raw, key, fd[0], extra))
        cmd = [split_fd(cmd[0]), *cmd[1:]]
        first, target = redirect(cmd[0])
    if name == "sysctl":
        sysctl(first[1:], file, number, raw, out)
    elif name == "ulimit":
        ulimit(first[1:], file, number, raw, out)
    elif name == "sed":
        sed(first[1:], file, number, raw, out)
    elif name in ("echo", "printf"):
        text = echoed(name, first[1:])
        targets = [target] if target else []
        if len(cmd) > 1 and name_of(cmd[-1]) == "tee":
            targets += [w for w in redirect(cmd[-1])[0][1:] if not w.startswith("-")]
        for path in targets:
            m = PROC_SYS.match(path)
            if m and not text.strip() and fd1(cmd[0]):
                key = normalise(m[1])
                out.problems.append(Problem(file, number, "echo-fd-redirect", raw, key, ""))
                continue
            before = len(out.settings)
            written(text, path, file, number + lead, raw, out, span)
            if path == target and sudo[:1] == (True,):
                _opened_by_the_caller(out.settings[before:])


def _opened_by_the_caller(settings: list[Setting]) -> None:
    """`sudo echo V > F`: sudo runs echo as root, but the calling shell opens F, as the
    user the script runs as, which a script that needs sudo is not root: EACCES."""
    for s in settings:
        s.problem = s.problem or "sudo-redirect"


def format_of(path: str) -> str | None:
    """The format of a file a script writes, by where it is."""
    if path == "/etc/sysctl.conf" or re.search(r"/sysctl\.d/[^/]+\.conf$", path):
        return "sysctl.conf"
    if path == "/etc/security/limits.conf" or re.search(r"/limits\.d/[^/]+\.conf$", path):
        return "limits.conf"
    if path == "/etc/modprobe.conf" or re.search(r"/modprobe\.d/[^/]+\.conf$", path):
        return "modprobe.d"
    # systemd's manager configuration and its drop-ins, a unit file and a unit's drop-in
    if re.search(r"/systemd/system\.conf(\.d/[^/]+\.conf)?$", path):
        return "system.conf"
    if re.search(r"/systemd/system/[^/]+\.service(\.d/[^/]+\.conf)?$", path):
        return "system.conf"
    # a script put in place to be run (at boot by rc.local, init.d, OpenRC's local.d, a
    # router's start script; or by whoever calls it): read for what it does when it runs
    if re.search(r"(?:\.sh|/rc\.local|/init\.d/[^/]+|/local\.d/[^/]+\.start)$", path):
        return "script"
    return None


def written(
    text: str, path: str, file: str, number: int, raw: str, out: Parsed, span: int = 1
) -> None:
    """`span`: the script lines the command took (a quoted string over several lines puts
    each of its lines on its own line of the script)."""
    m = PROC_SYS.match(path)
    if m:
        value = " ".join(text.split())
        out.settings.append(_bare(Setting(file, number, "sysctl", normalise(m[1]), value, raw)))
        return
    if SYSFS.match(path):  # a sysfs attribute: no sysctl rule knows it, but how it is written
        value = " ".join(text.split())
        out.settings.append(Setting(file, number, "sysfs", path, value, raw))
        return
    fmt = format_of(path)
    if fmt is None:
        return
    lead = ""
    if fmt == "system.conf" and not re.match(r"\s*\[", text):
        # a line added to the file without a section lands in its last one: system.conf's
        # [Manager], a unit's [Service] (where its Limit*= lines are)
        lead = "[Manager]\n" if "/system.conf" in path else "[Service]\n"
    parsed = confparse.parse(lead + text, file, fmt)
    items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
    for item in items:
        if span > 1:
            item.line += number - 1 - bool(lead)
        else:
            item.line, item.text = number, raw
    out.settings += parsed.settings
    out.problems += parsed.problems


def heredoc(
    cmd, name: str, target, file: str, body, out: Parsed, scratch: dict, sudo: tuple = ()
) -> None:
    """The here-document's lines go to the first command's standard input: into the file
    at the end of the pipeline (a redirection, or tee's files) if every stage copies its
    input; nowhere if the first stage does not read it. Copied to a file that is not a
    tuning file (`cat > sysctl.conf`), they wait in `scratch` for a `mv` into place."""
    last, last_target = redirect(cmd[-1])
    copies = all(name_of(stage) in COPIES_STDIN for stage in cmd[:-1])
    if name_of(last) == "sysctl" and loads_stdin(last[1:]) and (copies or len(cmd) == 1):
        parse_into(body, "sysctl.conf", file, out)  # `cat <<EOF | sysctl -p -`
        return
    targets = [last_target] if last_target else []
    if name_of(last) == "tee":
        targets += [w for w in last[1:] if not w.startswith("-")]
    copies = all(name_of(stage) in COPIES_STDIN for stage in cmd)
    for path in targets:
        fmt = format_of(path)
        if fmt is None:
            if copies:
                scratch[path] = body
            continue
        if copies:
            before = len(out.settings)
            parse_into(body, fmt, file, out)
            if path == last_target and sudo[-1:] == (True,):
                _opened_by_the_caller(out.settings[before:])  # `sudo cat > F << EOF`
            continue
        for s in read_as(body, fmt, file).settings:
            extra = {"writer": name or "the command", "target": path}
            out.problems.append(
                Problem(file, s.line, "heredoc-not-written", s.text, s.key, s.value, extra)
            )


def loads_stdin(args: list[str]) -> bool:
    """`sysctl -p -`, `sysctl -p /dev/stdin`, `sysctl --load=-`: settings read from stdin."""
    words = [a for a in args if not a.startswith("-") or a == "-"]
    loads = any(a.startswith("-") and "p" in a.lstrip("-") and a != "-" for a in args)
    loads = loads or any(a in ("--load", "--load=-", "--load=/dev/stdin") for a in args)
    from_stdin = bool(words) and words[-1] in ("-", "/dev/stdin")
    return loads and (from_stdin or "--load=-" in args or "--load=/dev/stdin" in args)


MAX_NESTED = 8  # scripts written by scripts written by ...: read this deep, no deeper
_nested = 0


def read_as(body: list[tuple[int, str]], fmt: str, file: str) -> Parsed:
    """The here-document's lines read as `fmt`, each on its own line of the script."""
    global _nested
    if fmt == "script" and _nested >= MAX_NESTED:
        return Parsed(fmt, unread=[f"a script written by scripts {MAX_NESTED} deep (not read)"])
    _nested += fmt == "script"
    try:
        parsed = confparse.parse("\n".join(line for _, line in body), file, fmt)
    finally:
        _nested -= fmt == "script"
    numbers = [n for n, _ in body]
    items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
    for item in items:
        item.line = numbers[item.line - 1] if 0 < item.line <= len(numbers) else item.line
    return parsed


def parse_into(body: list[tuple[int, str]], fmt: str, file: str, out: Parsed) -> None:
    parsed = read_as(body, fmt, file)
    out.settings += parsed.settings
    out.problems += parsed.problems
    out.unread += parsed.unread


def sysctl(args: list[str], file: str, number: int, raw: str, out: Parsed) -> None:
    """procps sysctl: with -w every argument must be one name=value word; with -p the rest
    are files to load; without either, an argument with '=' is still a write."""
    words = [a for a in args if not a.startswith("-")]
    loaded = loads_files(args)
    if loaded is not None:
        out.settings.append(Setting(file, number, "load", "sysctl -p", " ".join(loaded), raw))
        return
    writing = any(a in ("-w", "--write") for a in args)
    i = 0
    while i < len(words):
        word = words[i]
        name, sep, value = word.partition("=")
        if sep and name:
            s = setting(file, number, name, value, raw)
            if PROC_SYS.match(name):  # a path where the name belongs
                s.problem = "sysctl-path"
            out.settings.append(s)
        elif writing and i + 1 < len(words) and words[i + 1].startswith("="):
            # `sysctl -w key ="a b"`: the shell makes two words and both are refused;
            # what was meant is still linted.
            meant = setting(file, number, word, words[i + 1][1:], raw)
            meant.problem = "split-assignment"
            out.settings.append(meant)
            i += 1
        elif writing:
            out.problems.append(Problem(file, number, "not-assignment", raw, normalise(word)))
        i += 1


def loads_files(args: list[str]) -> list[str] | None:
    """The files `sysctl -p FILE...`, `-f FILE`, `--load FILE`, `--load=FILE` or `-pFILE`
    loads (procps sysctl(8): -p and -f load, each further argument is a file), None
    where the command does not load files."""
    short = [a for a in args if a.startswith("-") and not a.startswith("--")]
    flagged = any(set(a[1:]) & {"p", "f"} for a in short) or "--load" in args
    named = [a.partition("=")[2] for a in args if a.startswith("--load=")]
    glued = [a[2:] for a in short if a[1:2] == "p" and len(a) > 2 and "=" not in a]
    if not (flagged or named):
        return None
    words = [a for a in args if not a.startswith("-")]
    return [w for w in named + glued + words if w]


# sed's commands that put a line into the file: s/PATTERN/REPLACEMENT/FLAGS (on the lines
# that match), and [ADDRESS]a TEXT / i TEXT (append or insert)
# sed's commands that put a whole line into the file: s/^PATTERN.*/LINE/ (a pattern that
# runs from the line's start to its end: the line becomes LINE), and [ADDRESS]a TEXT,
# i TEXT, c TEXT (append, insert, change)
_SED_S = re.compile(
    r"^(?:[0-9$]+|/[^/]*/)?\s*s(.)(\^(?:\\.|(?!\1)[^\\])*)\1((?:\\.|(?!\1)[^\\])*)\1[gIip0-9]*$"
)
_SED_A = re.compile(r"^(?:[0-9$]+|/[^/]*/)?\s*[aic]\\?\s*(.*)$")  # GNU sed: `$ a`; `$a\`: none


def sed(args: list[str], file: str, number: int, raw: str, out: Parsed) -> None:
    """`sed -i 's/^net.core.somaxconn.*/net.core.somaxconn = 4096/' /etc/sysctl.conf`,
    `sed -i '/^#/a vm.swappiness = 10' FILE`: the line it puts into a sysctl, limits,
    modprobe.d or systemd file, read as that file's (where the pattern matches). Only a
    replacement of the whole line is read: a pattern that does not run to the line's end
    (`s/^#net.ipv4.ip_forward/net.ipv4.ip_forward/`, `s/=0/=1/`) keeps the rest of the
    line, which only the file knows, as does a replacement that refers to the match (`&`,
    `\\1`), and a script in a file (`-f`)."""
    if not any(a == "-i" or a.startswith(("-i", "--in-place")) for a in args):
        return  # without -i sed prints; the file is not changed
    scripts: list[str] = []
    words = [a for a in args if not a.startswith("-i") and not a.startswith("--in-place")]
    rest: list[str] = []
    k = 0
    while k < len(words):
        word = words[k]
        if word in ("-f", "--file") or word.startswith("--file="):
            return  # the script is in a file this reader does not open
        if word in ("-e", "--expression") and k + 1 < len(words):
            scripts.append(words[k + 1])
            k += 2
            continue
        if word.startswith("--expression="):
            scripts.append(word.partition("=")[2])
        elif not word.startswith("-"):
            rest.append(word)
        k += 1
    if not scripts and rest:
        scripts, rest = [rest[0]], rest[1:]
    # GNU sed joins its -e scripts with newlines: `-e '$a\' -e 'TEXT'` is `$a\` + TEXT
    joined: list[str] = []
    for script in scripts:
        if joined and re.search(r"(?:^|[0-9$/\s])[aic]\\$", joined[-1].strip()):
            joined[-1] = joined[-1].rstrip() + script
        else:
            joined.append(script)
    scripts = joined
    for path in rest:
        if format_of(path) is None:
            continue
        for script in scripts:
            if (text := _sed_line(script.strip())) is not None:
                written(text, path, file, number, raw, out)


def _sed_line(script: str) -> str | None:
    """The whole line a sed command writes, or None where the file's text decides it."""
    text = None
    if m := _SED_S.match(script):
        whole = re.search(r"(?<!\\)\.\*\$?$|(?<!\\)\$$", m[2])  # to the line's end
        refers = re.search(r"(?<!\\)&|\\[0-9]", m[3])
        text = m[3] if whole and not refers else None
        if text is not None and m[1] != "/":
            text = text.replace("\\" + m[1], m[1])
    elif m := _SED_A.match(script):
        text = m[1]
    if not text:
        return None
    return text.replace("\\n", "\n").replace("\\/", "/")


def setting(file: str, number: int, name: str, value: str, raw: str) -> Setting:
    m = PROC_SYS.match(name)
    key = normalise(m[1] if m else name)
    return _bare(Setting(file, number, "sysctl", key, " ".join(value.split()), raw))


def _bare(s: Setting) -> Setting:
    """A key without its tree (`sysctl -w tcp_sack=1`, /proc/sys/tcp_sack): no such file."""
    if "." not in s.key and not any(c in s.key for c in "*?[") and not s.problem:
        s.problem = "bare-name"
    return s


def ulimit(args: list[str], file: str, number: int, raw: str, out: Parsed) -> None:
    from tunekit.knowledge.catalogue import ULIMIT_ITEMS

    flags = "".join(a.lstrip("-") for a in args if a.startswith("-"))
    values = [a for a in args if not a.startswith("-")]
    items = [ULIMIT_ITEMS[f] for f in flags if f in ULIMIT_ITEMS]
    if len(items) != 1 or not values:
        return  # `ulimit -a`, a query (`ulimit -n`), or several at once
    typ = "hard" if "H" in flags and "S" not in flags else ("soft" if "S" in flags else "-")
    s = Setting(file, number, "ulimit", items[0], values[0], raw, type=typ)
    if not (_INT.match(values[0]) or values[0] == "unlimited"):
        s.problem = "bad-limit-value"
    out.settings.append(s)
