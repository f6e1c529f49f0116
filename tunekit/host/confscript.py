"""Shell scripts, read for the tuning they do, as the shell and the commands would run them.

Each line is split into words by the shell's own rules (shlex), then into commands on ; &&
|| and into pipeline stages on |. What is understood:

- `sysctl -w name=value ...` (one word per setting); `sysctl -w /proc/sys/PATH=value` is
  refused by procps ("cannot stat /proc/sys//proc/sys/...", measured): a finding, with the
  setting meant still linted; `sysctl -p [FILE]` is recorded, the file not followed;
- `echo V > /proc/sys/PATH` and `echo V | [sudo] tee [-a] /proc/sys/PATH`: a write of V;
- `echo 'LINE' >> FILE` (or tee) where FILE is a sysctl.conf, sysctl.d or limits file: LINE
  is read as a line of that file, as it will apply at boot;
- a here-document (`cmd << EOF ... EOF`): its lines are the command's standard input, so
  they reach FILE when the command copies its input (cat, tee; `cat << EOF | tee FILE`) and
  never when it does not (echo, printf), which is a finding on each of them;
- `ulimit -n N` (with -S/-H).
"""

from __future__ import annotations

import re
import shlex

from tunekit.host import confparse
from tunekit.host.confparse import Parsed, Problem, Setting, normalise

_PROC_SYS = re.compile(r"^/proc/sys/([A-Za-z0-9_./:@+-]+)$")
_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)[ \t]*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_INT = re.compile(r"^-?[0-9]+$")
COPIES_STDIN = ("cat", "tee")  # writers that copy their standard input to their output
PREFIXES = ("sudo", "exec", "command", "nohup")


def script(text: str, file: str) -> Parsed:
    out = Parsed("script")
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number, raw = i + 1, lines[i].rstrip()
        line = raw.strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        heredoc = _HEREDOC.search(line)
        body: list[tuple[int, str]] = []
        if heredoc is not None:
            word, strip_tabs = heredoc[3], heredoc[1] == "-"
            while i < len(lines):
                text_line = lines[i].lstrip("\t") if strip_tabs else lines[i]
                i += 1
                if text_line.rstrip() == word:
                    break
                body.append((i, text_line))
            line = line[: heredoc.start()] + line[heredoc.end() :]
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue  # an unfinished quote: not a line this reader understands
        for cmd in _commands(words):
            _command(cmd, file, number, raw, out, body if heredoc is not None else None)
    return out


def _commands(words: list[str]):
    """The command lines of one line (split on ; && ||), each as its pipeline stages."""
    cmd: list[str] = []
    for w in words + [";"]:
        if w in (";", "&&", "||"):
            if cmd:
                yield [_strip(stage) for stage in _stages(cmd)]
            cmd = []
        else:
            cmd.append(w)


def _stages(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in words:
        if w == "|":
            out.append([])
        else:
            out[-1].append(w)
    return [s for s in out if s]


def _strip(stage: list[str]) -> list[str]:
    """A stage without a leading sudo (and its options)."""
    words = list(stage)
    while words and words[0] in PREFIXES:
        words = words[1:]
        while words and words[0].startswith("-"):  # sudo's own options
            words = words[1:]
    return words


_REDIRECT = re.compile(r"^(\d?|&)(>>?|<)(&?[^<>]*)$")


def _redirect(stage: list[str]) -> tuple[list[str], str | None]:
    """(the words without their redirections, the file standard output goes to, if any):
    `> F`, `>>F`, `1> F`, `&>F`; `2>/dev/null` and `2>&1` are dropped."""
    words: list[str] = []
    target = None
    i = 0
    while i < len(stage):
        m = _REDIRECT.match(stage[i])
        if m is None:
            words.append(stage[i])
            i += 1
            continue
        fd, op, rest = m[1], m[2], m[3]
        if not rest and i + 1 < len(stage):  # the file is the next word: "> FILE"
            rest, i = stage[i + 1], i + 1
        if op != "<" and fd in ("", "1", "&") and not rest.startswith("&"):
            target = rest
        i += 1
    return words, target


def _fd1(stage: list[str]) -> bool:
    """`echo 1> FILE`: the shell takes the digit before > as a file descriptor."""
    return any(re.fullmatch(r"1>>?\S*", w) for w in stage[1:])


def _command(cmd, file: str, number: int, raw: str, out: Parsed, body) -> None:
    first, target = _redirect(cmd[0])
    name = first[0].rsplit("/", 1)[-1] if first else ""
    if body is not None:
        _heredoc(cmd, name, target, file, body, out)
    elif name == "sysctl":
        _sysctl(first[1:], file, number, raw, out)
    elif name == "ulimit":
        _ulimit(first[1:], file, number, raw, out)
    elif name in ("echo", "printf"):
        text = _echoed(name, first[1:])
        targets = [target] if target else []
        if len(cmd) > 1 and _name(cmd[-1]) == "tee":
            targets += [w for w in _redirect(cmd[-1])[0][1:] if not w.startswith("-")]
        for path in targets:
            m = _PROC_SYS.match(path)
            if m and not text.strip() and _fd1(cmd[0]):
                key = normalise(m[1])
                out.problems.append(Problem(file, number, "echo-fd-redirect", raw, key, ""))
                continue
            _written(text, path, file, number, raw, out)


def _name(stage: list[str]) -> str:
    return stage[0].rsplit("/", 1)[-1] if stage else ""


def _echoed(name: str, args: list[str]) -> str:
    """What echo or printf prints (options dropped; printf's \\n kept as a new line)."""
    if name == "printf":
        return (args[0] if args else "").replace("\\n", "\n")
    words = list(args)
    while words and re.fullmatch(r"-[neE]+", words[0]):
        words = words[1:]
    return " ".join(words)


def _format_of(path: str) -> str | None:
    """The format of a file a script writes, by where it is."""
    if path == "/etc/sysctl.conf" or re.search(r"/sysctl\.d/[^/]+\.conf$", path):
        return "sysctl.conf"
    if path == "/etc/security/limits.conf" or re.search(r"/limits\.d/[^/]+\.conf$", path):
        return "limits.conf"
    return None


def _written(text: str, path: str, file: str, number: int, raw: str, out: Parsed) -> None:
    m = _PROC_SYS.match(path)
    if m:
        value = " ".join(text.split())
        out.settings.append(Setting(file, number, "sysctl", normalise(m[1]), value, raw))
        return
    fmt = _format_of(path)
    if fmt is None:
        return
    parsed = confparse.parse(text, file, fmt)
    for s in parsed.settings:
        s.line, s.text = number, raw
        out.settings.append(s)
    for p in parsed.problems:
        p.line, p.text = number, raw
        out.problems.append(p)


def _heredoc(cmd, name: str, target, file: str, body, out: Parsed) -> None:
    """The here-document's lines go to the first command's standard input: into the file
    at the end of the pipeline (a redirection, or tee's files) if every stage copies its
    input; nowhere if the first stage does not read it."""
    last, last_target = _redirect(cmd[-1])
    targets = [last_target] if last_target else []
    if _name(last) == "tee":
        targets += [w for w in last[1:] if not w.startswith("-")]
    formats = [(t, f) for t in targets if (f := _format_of(t)) is not None]
    if not formats:
        return
    copies = all(_name(stage) in COPIES_STDIN for stage in cmd)
    text = "\n".join(line for _, line in body)
    for path, fmt in formats:
        parsed = confparse.parse(text, file, fmt)
        offset = body[0][0] - 1 if body else 0
        for s in parsed.settings:
            s.line += offset
            if copies:
                out.settings.append(s)
            else:
                extra = {"writer": name or "the command", "target": path}
                out.problems.append(
                    Problem(file, s.line, "heredoc-not-written", s.text, s.key, s.value, extra)
                )
        if copies:
            for p in parsed.problems:
                p.line += offset
                out.problems.append(p)


def _sysctl(args: list[str], file: str, number: int, raw: str, out: Parsed) -> None:
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
            s = _setting(file, number, name, value, raw)
            if _PROC_SYS.match(name):  # a path where the name belongs
                s.problem = "sysctl-path"
            out.settings.append(s)
        elif writing and i + 1 < len(words) and words[i + 1].startswith("="):
            # `sysctl -w key ="a b"`: the shell makes two words and both are refused;
            # what was meant is still linted.
            meant = _setting(file, number, word, words[i + 1][1:], raw)
            meant.problem = "split-assignment"
            out.settings.append(meant)
            i += 1
        elif writing:
            out.problems.append(Problem(file, number, "not-assignment", raw, normalise(word)))
        i += 1


def _setting(file: str, number: int, name: str, value: str, raw: str) -> Setting:
    m = _PROC_SYS.match(name)
    key = normalise(m[1] if m else name)
    return Setting(file, number, "sysctl", key, " ".join(value.split()), raw)


def _ulimit(args: list[str], file: str, number: int, raw: str, out: Parsed) -> None:
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
