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
# `command` too, but it also skips functions; busybox and toybox run the applet named next
PREFIXES = ("sudo", "exec", "nohup", "busybox", "toybox", "env", "timeout", "nice")
# the options of a prefix that take the next word (sudo -u root, nice -n 5)
_PREFIX_ARGS = {
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-T", "-U"},
    "nice": {"-n"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"},
}


MAX_STEPS = 20_000  # script lines run, loops and calls included: a hostile file ends here
MAX_DEPTH = 8  # functions calling functions
MAX_JOIN = 200  # lines one quoted string may span
INT_MAX = 2**31 - 1  # the largest descriptor number bash reads before >
MAX_VALUE = 1 << 16  # characters a variable may hold (X="$X$X" doubles it each line)


def script(text: str, file: str) -> Parsed:
    out = Parsed("script")
    lines = list(enumerate(text.splitlines(), start=1))
    shell = _Shell(file, out)
    shell.bash = _is_bash(lines[0][1] if lines else "")
    shell.run(lines)
    for name in [f for f in shell.functions if f not in shell.called]:
        # an init script's start() is called by its argument (`case "$1" in start)`), which
        # this reader does not follow: a function never called is read as if it were once
        shell.called.add(name)
        shell.run(shell.functions[name])
    if shell.cut:
        out.unread.append(shell.cut)  # lint says INCOMPLETE: the rest was not checked
    return out


_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_ARRAY = re.compile(r"^(?:local\s+|declare\s+-a\s+)?([A-Za-z_][A-Za-z0-9_]*)=\((.*)$")
_FUNCTION = re.compile(
    r"^(?:function\s+([A-Za-z_][A-Za-z0-9_-]*)\s*(?:\(\s*\))?|([A-Za-z_][A-Za-z0-9_-]*)\s*\(\s*\))"
    r"\s*(\{\s*(.*?)\s*;?\s*\}|\{)?\s*$"
)
_FOR = re.compile(r"^for\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\s+([^;]*?)\s*(?:;\s*do)?\s*$")
# the whole loop on one line: for x in a b; do BODY; done
_FOR_LINE = re.compile(
    r"^for\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\s+([^;]*?)\s*;\s*do\s+(.*?)\s*;?\s*done\s*;?$"
)
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*|[0-9@*])\}|([A-Za-z_][A-Za-z0-9_]*|[0-9@*]))")
_UNKNOWN = re.compile(r"\$[{A-Za-z0-9_@*]")  # left unexpanded: only the script's run knows
_RUN_ONLY = re.compile(r"\$[{(A-Za-z0-9_@*]")  # the same, with $(command) and $((...))
_ALL = re.compile(r"^\"?\$\{([A-Za-z_][A-Za-z0-9_]*)\[[@*]\]\}\"?$")
DECLARE = ("local", "export", "readonly", "declare", "typeset")
SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "su")  # `NAME -c SCRIPT` runs SCRIPT
# a sysctl name where the shell expects a command: net.*, kernel.*, vm.*, fs.* ...
_BARE = re.compile(
    r"^(net|kernel|vm|fs|user|abi|dev|sunrpc|crypto|debug)(\.[A-Za-z0-9_-]+)+(=.*)?$"
)


class _Shell:
    """As much of the shell as tuning scripts use to say what they write: variables
    (`P=/proc/sys/net/ipv4`, `local f="$1"`), arrays and `for x in "${a[@]}"` loops,
    functions called with arguments, quoted strings over several lines, and a
    here-document written to a scratch file that `mv`/`cp` then puts in place. A setting
    found inside a loop or a function is reported on the line that wrote its text: the
    array element, or the call."""

    def __init__(self, file: str, out: Parsed):
        self.file, self.out = file, out
        self.vars: dict[str, str] = {}
        self.arrays: dict[str, list[tuple[int, str]]] = {}
        self.functions: dict[str, list[tuple[int, str]]] = {}
        self.scratch: dict[str, list[tuple[int, str]]] = {}  # here-documents not yet in place
        self.called: set[str] = set()
        self.steps = 0
        self.depth = 0
        self.text: dict[int, str] = {}
        self.args: list[str] = []  # the arguments of the function being run
        self.exported: set[str] = set()  # names a shell started from this one inherits
        self.bash: bool | None = None  # the script's shell is bash (True), sh/dash (False)
        self.cut = ""  # why reading stopped early, and where
        self.at = 0  # the script line being read

    def spend(self, steps: int = 1) -> bool:
        """Count work against MAX_STEPS; False (and why, once) when it is spent."""
        self.steps += steps
        if self.steps > MAX_STEPS and not self.cut:
            self.stop(f"stopped reading at line {self.at}: {MAX_STEPS:,} lines run (loops, calls)")
        return not self.cut

    def stop(self, why: str) -> None:
        if not self.cut:
            self.cut = why + "; what follows was not checked"

    def run(self, lines: list[tuple[int, str]], origin: tuple[int, str, str] | None = None) -> None:
        """Run `lines`; `origin` (line, text, names): a line that uses one of the names
        ($x of a loop, $1 of a call) is reported where the value came from."""
        if not self.text:
            self.text = dict(lines)  # the script's own lines, by number
        i = 0
        while i < len(lines) and self.spend():
            number, raw = lines[i][0], lines[i][1].rstrip().replace("\0", "")  # bash drops NULs
            self.at = number
            line = raw.strip()
            i += 1
            if not line or line.startswith("#"):
                continue
            m = _FUNCTION.match(line)
            if m and (m[1] or m[2]) not in ("if", "while", "for"):
                if m[4] is not None:  # f() { ...; } on one line
                    self.functions[m[1] or m[2]] = [(number, m[4])]
                else:
                    body, i = _block(lines, i, opened=m[3] is not None)
                    self.functions[m[1] or m[2]] = body
                continue
            if m := _ARRAY.match(line):
                i = self._array(m[1], m[2], number, lines, i)
                continue
            if m := _FOR_LINE.match(line):
                self._for(m[1], m[2], number, [(number, m[3])])
                continue
            if m := _FOR.match(line):
                body, i = _loop(lines, i, opened=line.rstrip().endswith("do"))
                self._for(m[1], m[2], number, body)
                continue
            heredoc = _HEREDOC.search(line)
            if heredoc is not None and _open_quote(line[: heredoc.start()], "", 0):
                heredoc = None  # `bash -c 'cat > F <<EOF`: the inner script's, read there
            body_lines: list[tuple[int, str]] | None = None
            if heredoc is not None:
                body_lines, i = self._here_document(heredoc, lines, i)
                line = line[: heredoc.start()] + line[heredoc.end() :]
            words, span, i = self._words(line, lines, i)
            if words is None:
                continue  # a quote never closed: not a line this reader understands
            at, text = origin[:2] if origin and _uses(line, origin[2]) else (number, raw)
            same = (at, text) == (number, raw)
            for cmd in _commands(words):
                self._command(cmd, at, text, body_lines, span if same else 1)

    def _here_document(self, heredoc: re.Match, lines, i: int):
        """(the body's lines, where reading goes on): up to the line that is the word alone
        (tabs stripped first for <<-), expanded as the shell does unless the word is quoted."""
        word, strip_tabs = heredoc[3], heredoc[1] == "-"
        body: list[tuple[int, str]] = []
        while i < len(lines):
            text_line = lines[i][1].lstrip("\t") if strip_tabs else lines[i][1]
            i += 1
            if text_line.rstrip() == word:
                break
            body.append((lines[i - 1][0], text_line))
        return (body if heredoc[2] else self._expanded(body)), i

    def _expanded(self, body: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """A here-document's lines as the shell passes them on: $NAME replaced where the
        script gave it a value; a line left with a $ only the run can fill (an unset name,
        $(command), $((arithmetic))) is dropped, not judged as written."""
        out = []
        for number, text in body:
            text = _VAR.sub(self._value, text)
            if not _RUN_ONLY.search(text):
                out.append((number, text))
        return out

    def _words(self, line: str, lines, i: int) -> tuple[list[str] | None, int, int]:
        """The line's words after expansion; a line ending in a backslash goes on on the
        next (as bash joins them), and a quote left open takes the next lines."""
        span, quote, start = 1, "", 0
        while True:
            if _continued(line) and i < len(lines) and span < MAX_JOIN:
                line, i, span = line[:-1] + " " + lines[i][1].strip(), i + 1, span + 1
                continue
            quote = _open_quote(line, quote if span > 1 else "", start)
            if quote and span < MAX_JOIN and i < len(lines) and self.spend():
                start = len(line) + 1  # scan only what is added (a quote open over lines)
                line += "\n" + lines[i][1]
                i, span = i + 1, span + 1
                continue
            expanded = self.expand(line)
            if len(expanded) > MAX_VALUE * 4:
                self.stop(
                    f"stopped reading at line {self.at}: a command of {len(expanded):,} characters"
                )
                return None, span, i
            try:
                return shlex.split(_spaced(expanded), comments=True), span, i
            except ValueError:
                if span >= MAX_JOIN or i >= len(lines) or not self.spend():
                    if span >= MAX_JOIN:
                        self.stop(
                            f"stopped reading at line {self.at}: a quote open for {MAX_JOIN} lines"
                        )
                    return None, span, i
                line += "\n" + lines[i][1]
                i, span = i + 1, span + 1

    def expand(self, line: str) -> str:
        """$NAME, ${NAME} and $1 replaced where the script gave them a value, except
        inside single quotes (where the shell does not expand either)."""
        if "@" in self.vars:  # "$@" is each argument as a word of its own
            line = re.sub(r'"\$(?:\{@\}|@)"', lambda _: shlex.join(self.args), line)
        parts = re.split(r"('[^']*')", line)
        for k in range(0, len(parts), 2):  # the even parts are outside single quotes
            parts[k] = _VAR.sub(self._value, parts[k])
        return "".join(parts)

    def _value(self, m: re.Match) -> str:
        name = m[1] or m[2]
        value = self.vars.get(name, m[0])
        if len(value) > MAX_VALUE:
            self.stop(f"stopped reading at line {self.at}: ${name} holds {len(value):,} characters")
            return ""
        return value

    def _array(self, name: str, rest: str, number: int, lines, i: int) -> int:
        items: list[tuple[int, str]] = []
        text, n = rest, number
        while True:
            closing = _closes(text)
            try:
                words = shlex.split(
                    self.expand(text if closing is None else text[:closing]), comments=True
                )
            except ValueError:
                words = []
            items += [(n, w) for w in words]
            if closing is not None or i >= len(lines) or not self.spend():
                break
            n, text = lines[i][0], lines[i][1]
            i += 1
        self.arrays[name] = items
        return i

    def _for(self, var: str, what: str, number: int, body: list[tuple[int, str]]) -> None:
        if m := _ALL.match(what.strip()):
            items = self.arrays.get(m[1], [])
        else:
            try:
                items = [(number, w) for w in shlex.split(self.expand(what), comments=True)]
            except ValueError:
                return
        if not any(_uses(text, var) for _, text in body):
            items = items[:1]  # the same commands each time: once is what they do
        for n, item in items:
            if not self.spend():
                return
            self.vars[var] = item
            # the line that wrote the item is where a setting that uses it is reported
            self.run(body, origin=(n, self.text.get(n, item), var))

    def _call(self, name: str, args: list[str], origin: tuple[int, str]) -> None:
        self.called.add(name)
        if self.depth >= MAX_DEPTH:
            self.stop(f"stopped reading at line {self.at}: functions {MAX_DEPTH} calls deep")
            return
        saved, saved_args = dict(self.vars), self.args
        self.args = list(args)
        self.vars.update({str(k): a for k, a in enumerate(args, start=1)})
        self.vars["@"] = self.vars["*"] = " ".join(args)
        self.depth += 1
        try:
            # a line that uses the arguments is reported on the call, the others in the body
            self.run(self.functions[name], origin=(*origin, "123456789@*"))
        finally:
            self.depth -= 1
            self.vars, self.args = saved, saved_args

    def _command(self, cmd, number: int, raw: str, body, span: int) -> None:
        direct = bool(cmd[0]) and cmd[0][0] == "command"  # `command f`: never the function f
        if direct:
            cmd = [cmd[0][1:], *cmd[1:]]
        words = cmd[0]
        if words and words[0] in DECLARE:
            exports = words[0] == "export" or "-x" in words[1:]
            words = [w for w in words[1:] if not w.startswith("-")]
            if exports:  # what a shell started from here sees
                self.exported.update(w.partition("=")[0] for w in words)
        if words and all(_ASSIGN.match(w) for w in words) and len(cmd) == 1:
            for w in words:
                m = _ASSIGN.match(w)
                self.vars[m[1]] = m[2]  # type: ignore[index]
            return
        first, target = _redirect(cmd[0])
        name = first[0].rsplit("/", 1)[-1] if first else ""
        script = _shell_script(name, first[1:]) if name in SHELLS and body is None else None
        if script is not None:
            self._inline(script[0], script[1], number + max(0, span - 1 - script[0].count("\n")))
        elif name in self.functions and body is None and not direct:
            self._call(name, first[1:], (number, raw))
        elif body is not None:
            _heredoc(cmd, name, target, self.file, body, self.out, self.scratch)
        elif name in ("mv", "cp", "install"):
            self._moved([w for w in first[1:] if not w.startswith("-")])
        elif first and _BARE.match(first[0]):
            self._bare(first, number, raw)
        elif _UNKNOWN.search(" ".join(first)):
            return  # a value only the script's run knows ($1 of the script, an unset name)
        else:
            _command(cmd, self.file, number, raw, self.out, span, self.bash)

    def _inline(self, text: str, args: list[str], number: int) -> None:
        """`sudo bash -c 'cat > /etc/sysctl.d/x.conf <<EOF ... EOF'`, `su -c "sysctl -w
        ..."`: the string is a script of its own, from the line where it starts, run by a
        new shell, which sees only the exported variables and its own $0 $1 ..."""
        if self.depth >= MAX_DEPTH:
            self.stop(f"stopped reading at line {self.at}: shells {MAX_DEPTH} deep")
            return
        saved, saved_args = self.vars, self.args
        self.vars = {k: v for k, v in saved.items() if k in self.exported}
        self.vars.update({str(n): a for n, a in enumerate(args)})  # $0 is the first
        self.args = args[1:]
        self.depth += 1
        try:
            self.run([(number + k, line) for k, line in enumerate(text.split("\n"))])
        finally:
            self.depth -= 1
            self.vars, self.args = saved, saved_args

    def _bare(self, words: list[str], number: int, raw: str) -> None:
        """`net.core.somaxconn = 1024` as a line of the script: the shell runs
        "net.core.somaxconn" as a command, which is not found (exit 127; under set -e the
        script stops there). What was meant is still linted."""
        key, _, value = words[0].partition("=")
        if not value and len(words) > 1:
            value = " ".join(words[1:]).lstrip("=").strip()
        s = _setting(self.file, number, key, value, raw)
        s.problem = "not-a-command"
        self.out.settings.append(s)

    def _moved(self, paths: list[str]) -> None:
        """`mv sysctl.conf /etc/sysctl.conf` after a here-document wrote sysctl.conf."""
        if len(paths) != 2 or paths[0] not in self.scratch:
            return
        fmt = _format_of(paths[1])
        if fmt is not None:
            _parse_into(self.scratch.pop(paths[0]), fmt, self.file, self.out)


def _uses(text: str, names: str) -> bool:
    """Does the line expand one of `names` (a variable name, or positional characters)?"""
    if len(names) > 1 and not names.isidentifier():  # "123456789@*": the arguments
        return re.search(r"\$\{?[1-9@*]", text) is not None
    return re.search(r"\$\{?" + re.escape(names) + r"\b", text) is not None


def _open_quote(text: str, quote: str, start: int) -> str:
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


def _shell_script(name: str, args: list[str]) -> tuple[str, list[str]] | None:
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


def _spaced(text: str) -> str:
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
        elif c == ">" and _too_large_fd(text, k):
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


def _too_large_fd(text: str, k: int) -> bool:
    """The word right before text[k] (a >) is all digits and past INT_MAX. Looks back over
    that word only (a > after a > looks at nothing), so a line of many > stays linear."""
    start = k
    while start and text[start - 1].isdigit():
        start -= 1
    if start == k or (start and not text[start - 1].isspace()):
        return False
    return k - start > 10 or int(text[start:k]) > INT_MAX


def _continued(line: str) -> bool:
    """Ends in a backslash that is not itself escaped."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _closes(text: str) -> int | None:
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


def _block(lines, i: int, opened: bool) -> tuple[list[tuple[int, str]], int]:
    """A function's body: to the `}` that closes it."""
    depth = 1 if opened else 0
    body: list[tuple[int, str]] = []
    while i < len(lines):
        text = lines[i][1].strip()
        i += 1
        if not opened and text.startswith("{"):
            opened, depth = True, 1
            continue
        if text.endswith("{"):
            depth += 1
        if text == "}" or text.startswith("} ") or text == "};":
            depth -= 1
            if depth <= 0:
                break
        body.append(lines[i - 1])
    return body, i


def _loop(lines, i: int, opened: bool) -> tuple[list[tuple[int, str]], int]:
    """A for loop's body: from `do` to its own `done`."""
    depth = 1
    body: list[tuple[int, str]] = []
    while i < len(lines):
        text = lines[i][1].strip()
        i += 1
        if not opened and text in ("do", "do;"):
            opened = True
            continue
        if re.match(r"^(for|while|until)\b", text):
            depth += 1
        if re.match(r"^done\b", text):
            depth -= 1
            if depth == 0:
                break
        body.append(lines[i - 1])
    return body, i


def _commands(words: list[str]):
    """The command lines of one line (split on ; && || & ;;), each as its pipeline stages."""
    cmd: list[str] = []
    for w in words + [";"]:
        if w in (";", "&&", "||", "&", ";;"):
            stages = [_strip(stage) for stage in _stages(cmd)]
            if stages and all(stages):  # `a ; |`, a lone `sudo`: no command to run
                yield stages
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
    """A stage without what runs the command for it: sudo (and its options, `-u root`
    with its argument), env (and its NAME=value words), timeout (and its duration), nice,
    busybox, exec."""
    words = list(stage)
    while words and words[0] in PREFIXES:
        prefix, words = words[0], words[1:]
        while words and words[0].startswith("-"):  # the prefix's own options
            option, words = words[0], words[1:]
            if option in _PREFIX_ARGS.get(prefix, ()) and words:
                words = words[1:]
        if prefix == "env":
            while words and _ASSIGN.match(words[0]):
                words = words[1:]
        elif prefix == "timeout" and words:
            words = words[1:]  # the duration
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


def _is_bash(first: str) -> bool | None:
    """The script's shell from its #! line: bash (True), dash (False), else None (sh is
    dash on Debian and Ubuntu, bash on Red Hat). Bash reads `25000>` as a descriptor,
    dash as the number 25000."""
    words = first[2:].split() if first.startswith("#!") else []
    name = words[0].rsplit("/", 1)[-1] if words else ""
    if name == "env" and len(words) > 1:
        name = words[1]
    return {"bash": True, "dash": False}.get(name)


def _split_fd(stage: list[str]) -> list[str]:
    """The stage as dash reads it: `25000>F` is the word 25000, then > F."""
    out: list[str] = []
    for w in stage:
        m = re.fullmatch(r"(\d{2,})(>>?)(\S*)", w)
        out += [m[1], m[2] + m[3]] if m else [w]
    return out


def _fd_other(stage: list[str]) -> tuple[str, str] | None:
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


def _command(
    cmd, file: str, number: int, raw: str, out: Parsed, span: int = 1, bash: bool | None = None
) -> None:
    first, target = _redirect(cmd[0])
    name = first[0].rsplit("/", 1)[-1] if first else ""
    fd = _fd_other(cmd[0]) if name in ("echo", "printf") else None
    if fd is not None and (m := _PROC_SYS.match(fd[1])):
        key, extra = normalise(m[1]), {"fd": fd[0]}
        if len(fd[0]) == 1 or bash:  # a descriptor in every shell, or in this one (bash)
            out.problems.append(Problem(file, number, "echo-fd-other", raw, key, fd[0], extra))
            return
        # dash reads only one digit before > as a descriptor: there the number is echoed
        out.problems.append(Problem(file, number, "echo-fd-shell", raw, key, fd[0], extra))
        cmd = [_split_fd(cmd[0]), *cmd[1:]]
        first, target = _redirect(cmd[0])
    if name == "sysctl":
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
            _written(text, path, file, number, raw, out, span)


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


def _written(
    text: str, path: str, file: str, number: int, raw: str, out: Parsed, span: int = 1
) -> None:
    """`span`: the script lines the command took (a quoted string over several lines puts
    each of its lines on its own line of the script)."""
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
        if span > 1:
            s.line += number - 1
        else:
            s.line, s.text = number, raw
        out.settings.append(s)
    for p in parsed.problems:
        if span > 1:
            p.line += number - 1
        else:
            p.line, p.text = number, raw
        out.problems.append(p)


def _heredoc(cmd, name: str, target, file: str, body, out: Parsed, scratch: dict) -> None:
    """The here-document's lines go to the first command's standard input: into the file
    at the end of the pipeline (a redirection, or tee's files) if every stage copies its
    input; nowhere if the first stage does not read it. Copied to a file that is not a
    tuning file (`cat > sysctl.conf`), they wait in `scratch` for a `mv` into place."""
    last, last_target = _redirect(cmd[-1])
    copies = all(_name(stage) in COPIES_STDIN for stage in cmd[:-1])
    if _name(last) == "sysctl" and _loads_stdin(last[1:]) and (copies or len(cmd) == 1):
        _parse_into(body, "sysctl.conf", file, out)  # `cat <<EOF | sysctl -p -`
        return
    targets = [last_target] if last_target else []
    if _name(last) == "tee":
        targets += [w for w in last[1:] if not w.startswith("-")]
    copies = all(_name(stage) in COPIES_STDIN for stage in cmd)
    for path in targets:
        fmt = _format_of(path)
        if fmt is None:
            if copies:
                scratch[path] = body
            continue
        if copies:
            _parse_into(body, fmt, file, out)
            continue
        for s in _parsed(body, fmt, file).settings:
            extra = {"writer": name or "the command", "target": path}
            out.problems.append(
                Problem(file, s.line, "heredoc-not-written", s.text, s.key, s.value, extra)
            )


def _loads_stdin(args: list[str]) -> bool:
    """`sysctl -p -`, `sysctl -p /dev/stdin`, `sysctl --load=-`: settings read from stdin."""
    words = [a for a in args if not a.startswith("-") or a == "-"]
    loads = any(a.startswith("-") and "p" in a.lstrip("-") and a != "-" for a in args)
    loads = loads or any(a in ("--load", "--load=-", "--load=/dev/stdin") for a in args)
    from_stdin = bool(words) and words[-1] in ("-", "/dev/stdin")
    return loads and (from_stdin or "--load=-" in args or "--load=/dev/stdin" in args)


def _parsed(body: list[tuple[int, str]], fmt: str, file: str) -> Parsed:
    """The here-document's lines read as `fmt`, each on its own line of the script."""
    parsed = confparse.parse("\n".join(line for _, line in body), file, fmt)
    numbers = [n for n, _ in body]
    items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
    for item in items:
        item.line = numbers[item.line - 1] if 0 < item.line <= len(numbers) else item.line
    return parsed


def _parse_into(body: list[tuple[int, str]], fmt: str, file: str, out: Parsed) -> None:
    parsed = _parsed(body, fmt, file)
    out.settings += parsed.settings
    out.problems += parsed.problems


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
