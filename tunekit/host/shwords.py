"""How the shell cuts a script line into words, commands, pipeline stages and
redirections: the rules bash and dash apply before any command runs (quotes, operators
glued to words, descriptor numbers before >, sudo/env/timeout prefixes). confscript.py
runs the lines; shcommands.py says what each command writes."""

from __future__ import annotations

import re

# `command` too, but it also skips functions; busybox and toybox run the applet named next
PREFIXES = ("sudo", "exec", "nohup", "busybox", "toybox", "env", "timeout", "nice")
# the options of a prefix that take the next word (sudo -u root, nice -n 5)
_PREFIX_ARGS = {
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-T", "-U"},
    "nice": {"-n"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"},
    "env": {"-u", "--unset", "-C", "--chdir"},
}
INT_MAX = 2**31 - 1  # the largest descriptor number bash reads before >
ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_REDIRECT = re.compile(r"^(\d?|&)(>>?|<)(&?[^<>]*)$")


def open_quote(text: str, quote: str, start: int) -> str:
    """The quote still open at the end of text[start:], given the one open before it:
    one pass, so a string over many lines is scanned once, not once per line."""
    k = start
    while k < len(text):
        c = text[k]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            k += 1  # the next character is escaped (outside single quotes)
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (k == 0 or text[k - 1].isspace()):
            nl = text.find("\n", k)
            k = len(text) if nl < 0 else nl
            continue
        k += 1
    return quote


def comment_at(text: str, quote: str = "", after_space: bool = True) -> int | None:
    """Where a comment starts in `text` (a `#` that begins a word, outside quotes), given
    the quote open before it; `after_space`: what came before text ends a word."""
    k = 0
    while k < len(text):
        c = text[k]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            k += 1
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (text[k - 1].isspace() if k else after_space):
            return k
        k += 1
    return None


def quoted_parts(text: str) -> list[tuple[str, bool]]:
    """The text cut where single quotes open and close, as the shell reads them: (part,
    in single quotes). An apostrophe inside double quotes, or escaped, opens nothing
    (`"can't"`, `echo \\'`); the quotes stay in the parts."""
    if "'" not in text:
        return [(text, False)] if text else []
    parts: list[tuple[str, bool]] = []
    start, quote, k = 0, "", 0
    while k < len(text):
        c = text[k]
        if quote == "'":
            if c == "'":
                parts.append((text[start : k + 1], True))
                start, quote = k + 1, ""
        elif c == "\\":
            k += 1
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif c == '"':
            quote = c
        elif c == "'":
            parts.append((text[start:k], False))
            start, quote = k, "'"
        k += 1
    parts.append((text[start:], quote == "'"))
    return [p for p in parts if p[0]]


def shell_script(name: str, args: list[str]) -> tuple[str, list[str]] | None:
    """(the script, its $0 $1 ...) of `bash -c SCRIPT NAME ARG...` (-c in a cluster of
    leading options: `bash -ec`), or of su's `-c CMD` / `--command=CMD` (anywhere among
    su's arguments); None for `bash FILE -c x`, where -c is the script's own argument."""
    if name == "su":
        for n, a in enumerate(args):
            if a in ("-c", "--command") and n + 1 < len(args):
                return args[n + 1], []
            if a.startswith("--command="):
                return a.partition("=")[2], []
        return None
    n = 0
    while n < len(args) and args[n].startswith("-") and args[n] != "-":
        if not args[n].startswith("--") and "c" in args[n][1:]:
            return (args[n + 1], args[n + 2 :]) if n + 1 < len(args) else None
        n += 1
    return None


def stdin_script(name: str, args: list[str]) -> list[str] | None:
    """The $0 $1 ... of a shell that reads its script from standard input (`bash <<EOF`,
    `sudo sh -s -- a b <<EOF`: bash(1), "If the -s option is present, or if no arguments
    remain after option processing, then commands are read from the standard input"); None
    where the input is data for a script named on the line or given by -c."""
    if name == "su":  # `su`, `su -`, `su - root`: the user's shell, reading stdin
        if any(a in ("-c", "--command") or a.startswith("--command=") for a in args):
            return None
        return [name] if len([a for a in args if not a.startswith("-")]) <= 1 else None
    n = 0
    while n < len(args) and args[n][:1] in ("-", "+") and args[n] not in ("-", "--"):
        option = args[n]
        if not option.startswith("--") and "c" in option[1:]:
            return None
        if not option.startswith("--") and "s" in option[1:]:
            return [name, *[a for a in args[n + 1 :] if a != "--"][:9]]
        if not option.startswith("--") and option[-1] in ("o", "O"):
            n += 1  # -o pipefail, -euo pipefail, +O extglob: the next word is the option's
        n += 1
    # "--" and "-" end the options (bash(1): "An argument of - is equivalent to --")
    rest = args[n + 1 :] if n < len(args) and args[n] in ("-", "--") else args[n:]
    return [name] if not rest else None


def spaced(text: str) -> str:
    """`;`, `&&`, `||` and `|` set apart where the shell sees them as operators (outside
    quotes, unescaped): `echo 0 > /proc/sys/x;` ends its command at the `;` as bash does,
    though shlex would keep `x;` as one word."""
    out, quote, k = [], "", 0
    while k < len(text):
        c = text[k]
        if quote:
            if c == "\\" and quote == '"' and k + 1 < len(text):
                out.append(text[k : k + 2])
                k += 2
                continue
            quote = "" if c == quote else quote
        elif c == "\\" and k + 1 < len(text):
            out.append(text[k : k + 2])
            k += 2
            continue
        elif c in "'\"":
            quote = c
        elif c == ">" and k and text[k - 1] in "'\"":
            out.append(" ")  # `echo "6553"> F`: a quoted word is no descriptor number
        elif c == ">" and too_large_fd(text, k):
            out.append(" ")  # bash takes a number too large for a descriptor as a word
        elif c == "#" and (k == 0 or text[k - 1].isspace()):
            out.append(text[k:])  # a comment: shlex drops it
            break
        elif c in ";|&":
            op = text[k : k + 2] if text[k : k + 2] in ("&&", "||", ";;") else c
            if op != "&" or text[k - 1 : k] not in (">", "<") and text[k + 1 : k + 2] != ">":
                out.append(f" {op} ")  # not the & of 2>&1 or &>
                k += len(op)
                continue
        out.append(c)
        k += 1
    return "".join(out)


def too_large_fd(text: str, k: int) -> bool:
    """The word right before text[k] (a >) is all digits and past INT_MAX. Looks back over
    that word only (a > after a > looks at nothing), so a line of many > stays linear."""
    start = k
    while start and text[start - 1].isdigit():
        start -= 1
    if start == k or (start and not text[start - 1].isspace()):
        return False
    return k - start > 10 or int(text[start:k]) > INT_MAX


def continued(line: str) -> bool:
    """Ends in a backslash that is not itself escaped."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def closes(text: str) -> int | None:
    """Where an array's closing parenthesis is on this line (outside quotes), if it is."""
    quote = ""
    for k, c in enumerate(text):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (k == 0 or text[k - 1].isspace()):
            return None
        elif c == ")":
            return k
    return None


class Pipeline(list):
    """A command line's stages, prefixes stripped. `sudo[k]`: stage k ran through sudo,
    which gives the command root but not its redirections: `sudo echo 1 > F` has the
    calling shell open F, as the calling user (bash(1), REDIRECTION: done by the shell
    before the command runs)."""

    sudo: tuple[bool, ...] = ()


OPERATORS = (";", "&&", "||", "&", ";;")  # what ends a command of a line


def commands(words: list[str]):
    """The command lines of one line (split on ; && || & ;;), each as its pipeline stages."""
    cmd: list[str] = []
    for w in words + [";"]:
        if w in OPERATORS:
            raw = pipeline(cmd)
            stages = Pipeline(strip_prefixes(stage) for stage in raw)
            # sudo among the prefixes (`exec sudo`, `timeout 5 sudo`), not as an argument
            stages.sudo = tuple(
                "sudo" in map(_base, stage[: len(stage) - len(run)])
                for stage, run in zip(raw, stages, strict=True)
            )
            if stages and all(stages):  # `a ; |`, a lone `sudo`: no command to run
                yield stages
            cmd = []
        else:
            cmd.append(w)


def pipeline(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in words:
        if w == "|":
            out.append([])
        else:
            out[-1].append(w)
    return [s for s in out if s]


def _base(word: str) -> str:
    """A command word's program name: `/system/bin/busybox` is busybox (an assignment,
    `B=/bin/busybox`, is not a path)."""
    return word.rsplit("/", 1)[-1] if "=" not in word else word


def strip_prefixes(stage: list[str]) -> list[str]:
    """A stage without what runs the command for it: sudo (and its options, `-u root`
    with its argument), env (and its NAME=value words), timeout (and its duration), nice,
    busybox, exec."""
    words = list(stage)
    while words and _base(words[0]) in PREFIXES:  # `/system/bin/busybox echo`, `/usr/bin/env`
        prefix, words = _base(words[0]), words[1:]
        shell = False
        while words and words[0].startswith("-"):  # the prefix's own options
            option, words = words[0], words[1:]
            if option in _PREFIX_ARGS.get(prefix, ()) and words:
                words = words[1:]
            elif prefix == "sudo" and (
                option in ("--shell", "--login") or set(option[1:]) & {"s", "i"}
            ):
                shell = True
        if shell and not words:
            return ["sh"]  # `sudo -s`, `sudo -i`: the user's shell, reading standard input
        if prefix == "env":
            while words and ASSIGN.match(words[0]):
                words = words[1:]
        elif prefix == "timeout" and words:
            words = words[1:]  # the duration
    return words


def redirect(stage: list[str]) -> tuple[list[str], str | None]:
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


def fd1(stage: list[str]) -> bool:
    """`echo 1> FILE`: the shell takes the digit before > as a file descriptor."""
    return any(re.fullmatch(r"1>>?\S*", w) for w in stage[1:])


def is_bash(first: str) -> bool | None:
    """The script's shell from its #! line: bash (True), dash (False), else None (sh is
    dash on Debian and Ubuntu, bash on Red Hat). Bash reads `25000>` as a descriptor,
    dash as the number 25000."""
    words = first[2:].split() if first.startswith("#!") else []
    name = words[0].rsplit("/", 1)[-1] if words else ""
    if name == "env" and len(words) > 1:
        name = words[1]
    return {"bash": True, "dash": False}.get(name)


def split_fd(stage: list[str]) -> list[str]:
    """The stage as dash reads it: `25000>F` is the word 25000, then > F."""
    out: list[str] = []
    for w in stage:
        m = re.fullmatch(r"(\d{2,})(>>?)(\S*)", w)
        out += [m[1], m[2] + m[3]] if m else [w]
    return out


def fd_other(stage: list[str]) -> tuple[str, str] | None:
    """(the descriptor, the file) of `echo 0> FILE` or `echo 1024 25000> FILE`: the shell
    opens FILE on that descriptor, so echo's output (descriptor 1) never goes there (0:
    the file is only opened; one not open in the shell: "Bad file descriptor", and the
    command does not run). Measured with bash 5.2."""
    for n, w in enumerate(stage[1:], 1):
        m = re.fullmatch(r"(\d+)>>?(\S*)", w)
        if m and m[1] != "1" and int(m[1]) <= INT_MAX:
            path = m[2] or (stage[n + 1] if n + 1 < len(stage) else "")
            return m[1], path
    return None


def name_of(stage: list[str]) -> str:
    return stage[0].rsplit("/", 1)[-1] if stage else ""


def echoed(name: str, args: list[str]) -> str:
    """What echo or printf prints (echo's options dropped)."""
    if name == "printf":
        return printf(args)
    words = list(args)
    while words and re.fullmatch(r"-[neE]+", words[0]):
        words = words[1:]
    return " ".join(words)


_CONVERSION = re.compile(r"%(?:(%)|([-+ #0]*)([0-9]*)(?:\.([0-9]*))?([sdiuxXocb]))")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "a": "\a", "r": "\r"}
MAX_PRINTED = 1 << 16  # characters of printf output kept: a hostile line stops there


class _Stop(Exception):
    """\\c: printf prints nothing more."""


def _unescape(text: str) -> str:
    def one(m: re.Match) -> str:
        if m[1][0] in "01234567":  # \0NNN or \NNN: an octal byte
            return chr(int(m[0][1:].lstrip("0") or "0", 8) & 0xFF)
        return _ESCAPES.get(m[1], "\\" + m[1])

    return re.sub(r"\\(0[0-7]{0,3}|[1-7][0-7]{0,2}|.)", one, text)


def _c_integer(text: str) -> int:
    """An argument of %d as printf reads it (strtoimax, base 0: 010 is 8, 0x10 16; a
    leading quote gives the character's code); 0 where it is not a number."""
    text = text.strip()
    if text[:1] in ("'", '"') and len(text) > 1:
        return ord(text[1])
    m = re.match(r"^[-+]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text)
    if not m:
        return 0
    return int(m[0], 0) if not re.match(r"^[-+]?0[0-7]+$", m[0]) else int(m[0], 8)


def _convert(flags: str, width: str, precision: str | None, letter: str, arg: str) -> str:
    if letter in "sb":
        text = arg
        if letter == "b":
            head, stop, _ = arg.partition("\\c")  # \c: this and nothing more is printed
            text = _unescape(head)
            if stop:
                raise _Stop(text)
        if precision is not None:
            text = text[: int(precision or 0)]
        spec = f"%{flags.replace('0', '')}{width}s"
        return spec % text
    if letter == "c":
        return arg[:1] or ""
    number = _c_integer(arg)
    if letter in "uxXo":
        number &= (1 << 64) - 1
    code = {"u": "d", "i": "d"}.get(letter, letter)
    dot = f".{precision or 0}" if precision is not None else ""
    return f"%{flags}{width}{dot}{code}" % number


def printf(args: list[str]) -> str:
    """What printf FORMAT ARGS... prints, as bash's and dash's printf print it: the
    format's escapes (\\n, \\t, \\NNN), %s %b (whose \\c ends the output) %c and %d %i %u %x %o
    with their flags, width and precision (an argument of %d read as C reads it: 010 is
    8), each taking the next argument (missing: empty or 0), and the format used again
    while arguments remain (`printf '%s\\n' a b` prints two lines). `--` ends the
    options; `-v NAME` prints nothing (it assigns). At most MAX_PRINTED characters."""
    if args[:1] == ["-v"]:
        return ""
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        return ""
    out: list[str] = []
    size = 0
    fmt = _unescape(args[0])  # \\c ends the output only in a %b argument
    rest = list(args[1:])
    pieces = _CONVERSION.split(fmt)  # text, then 5 groups per conversion, text again ...
    try:
        while size <= MAX_PRINTED:
            taken = 0
            for k in range(0, len(pieces), 6):
                out.append(pieces[k])
                size += len(pieces[k])
                if k + 1 >= len(pieces):
                    break
                percent, flags, width, precision, letter = pieces[k + 1 : k + 6]
                if percent:
                    out.append("%")
                    continue
                arg = rest[taken] if taken < len(rest) else ""
                taken += 1
                piece = _convert(flags or "", width or "", precision, letter, arg)
                out.append(piece)
                size += len(piece)
            rest = rest[taken:]
            if not rest or not taken:
                break
    except _Stop as stop:
        out.append(stop.args[0] if stop.args else "")
    return "".join(out)[:MAX_PRINTED]
