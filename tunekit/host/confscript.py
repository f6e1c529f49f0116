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

This module runs the lines (variables, loops, functions, here-documents, `bash -c`);
shwords.py holds how a line is cut into words and commands, shcommands.py what each
command writes.
"""

from __future__ import annotations

import re
import shlex

from tunekit.host.confparse import Parsed
from tunekit.host.shcommands import (
    COPIES_STDIN,
    PROC_SYS,
    SYSFS,
    command,
    format_of,
    heredoc,
    loads_files,
    name_of,
    parse_into,
    setting,
    written,
)
from tunekit.host.shwords import (
    ASSIGN,
    OPERATORS,
    closes,
    commands,
    comment_at,
    continued,
    is_bash,
    open_quote,
    quoted_parts,
    redirect,
    shell_script,
    spaced,
    stdin_script,
)

_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)[ \t]*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
MAX_STEPS = 20_000  # script lines run, loops and calls included: a hostile file ends here
MAX_DEPTH = 8  # functions calling functions
MAX_JOIN = 200  # lines one quoted string may span
MAX_VALUE = 1 << 16  # characters a variable may hold (X="$X$X" doubles it each line)


# scripts that run as root by how they are run: rc.local, init scripts, cron.d and
# systemd's own; in them a sudo in front of a command is needless, not a sign of a user
_RUN_AS_ROOT = re.compile(r"(^|/)(rc\.local|rc\.d/|init\.d/|cron\.d/)")
_ROOT_WRITE = re.compile(
    r"^(?![^\n#]*\bsudo\b)[^\n#]*(?:>>?|\btee\b(?:\s+-a)?)\s*"
    r"(?:/etc/sysctl\.conf|/etc/sysctl\.d/|/etc/security/limits|/etc/modprobe\.d/|/proc/sys/)",
    re.M,
)


def script(text: str, file: str, as_root: bool | None = None) -> Parsed:
    """`as_root`: the caller knows the script runs as root (cloud-init runs its commands
    as root, a Dockerfile's RUN as root unless a USER says otherwise); None: by its path."""
    parsed = _script(text, file)
    if as_root is None:
        # by its path, or by what it does: a write to a file only root may write, with no
        # sudo on its line (`cat >> /etc/security/limits.conf <<EOF`), works only as root
        as_root = bool(_RUN_AS_ROOT.search(file) or _ROOT_WRITE.search(text))
    if as_root:
        as_root_already(parsed)
    return parsed


def as_root_already(parsed: Parsed) -> None:
    """Where the shell is root, `sudo echo V > F` works: the caller opens F as root."""
    for s in parsed.settings:
        if s.problem == "sudo-redirect":
            s.problem = None


def _script(text: str, file: str) -> Parsed:
    out = Parsed("script")
    lines = list(enumerate(text.splitlines(), start=1))
    shell = _Shell(file, out)
    shell.bash = is_bash(lines[0][1] if lines else "")
    shell.run(lines)
    never = _never_called(lines, shell)
    own = {n for f in never for n, _ in shell.functions[f]}  # the never-called ones' lines
    for name in [f for f in shell.functions if f not in shell.called]:
        # a function the run did not call may still be called in a way this reader does
        # not follow (an init script's start() by `case "$1" in start)`, a trap): it is
        # read as if called once, unless nothing in the script could call it
        shell.called.add(name)
        first = len(out.settings)
        shell.run(shell.functions[name])
        if name in never:
            # a line of a function that does run, reached through this one, is read
            # already where it runs: only the never-called functions' own lines are kept
            out.settings[first:] = [s for s in out.settings[first:] if s.line in own]
            for s in out.settings[first:]:
                s.problem = "never-called"  # whatever else is wrong, the line never runs
    if _MAY_DEFINE_WRITE.search(text):
        # a write() of the script's own (a subshell body, an alias, eval) or of a file it
        # sources: the line writes what it says, as far as this reader can tell
        for s in out.settings:
            s.problem = None if s.problem == "init-verb-in-shell" else s.problem
    if shell.cut:
        out.unread.append(shell.cut)  # lint says INCOMPLETE: the rest was not checked
    return out


_MAY_DEFINE_WRITE = re.compile(
    r"\bwrite\s*\(\s*\)|\bfunction\s+write\b|\balias\s+write=|\beval\b"
    r"|^[ \t]*(?:\.|source)\s+\S",
    re.M,
)


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
        self.defined_at: dict[str, int] = {}  # each function's `name() {` line
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
            # this reader's own markers: _by_line, expand
            raw = raw.replace(_LINE_MARK, _NOT_A_MARK).replace(_LITERAL, _NOT_A_MARK)
            self.at = number
            line = raw.strip()
            i += 1
            if not line or line.startswith("#"):
                continue
            m = _FUNCTION.match(line)
            if m and (m[1] or m[2]) not in ("if", "while", "for"):
                self.defined_at.setdefault(m[1] or m[2], number)
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
            words, span, i, body_lines, owner = self._line(line, lines, i)
            if words is None:
                continue  # a quote never closed: not a line this reader understands
            at, text = origin[:2] if origin and _uses(line, origin[2]) else (number, raw)
            same = (at, text) == (number, raw)
            for offset, lead, group in _by_line(words):
                # a command on a later line of a backslash-joined one is reported there
                later = same and offset > 0
                here = at + offset if later else at
                shown_as = self.text.get(here, text) if later else text
                for cmd in commands(group):
                    rest = span - offset if same else 1
                    # the here-document is the standard input of the command it is on only
                    stdin = body_lines if owner == 0 else None
                    owner -= 1
                    self._command(cmd, here, shown_as, stdin, rest, lead if same else 0)

    def _line(self, line: str, lines, i: int):
        """(words, span, where reading goes on, a here-document's body, the index among the
        line's commands of the one it is given to)."""
        heredoc = _HEREDOC.search(line)
        if heredoc is not None and open_quote(line[: heredoc.start()], "", 0):
            heredoc = None  # `bash -c 'cat > F <<EOF`: the inner script's, read there
        cut = comment_at(line) if heredoc is not None else None
        if heredoc is not None and cut is not None and cut < heredoc.start():
            heredoc = None  # `echo x # see <<EOF`: in the comment
        if heredoc is not None and not continued(line):
            owner = _commands_before(line[: heredoc.start()])
            body, i = self._here_document(heredoc, lines, i)
            words, span, i = self._words(line[: heredoc.start()] + line[heredoc.end() :], lines, i)
            return words, span, i, body, owner
        if joined := _heredoc_joined(line, heredoc, lines, i):
            # `sudo tee -a F \` then `> /dev/null <<EOF` (or `cat <<EOF \` then `>> F`):
            # the body starts after the joined command's last line, as bash reads it
            line, joined_lines, heredoc, end, before = joined
            body, after = self._here_document(heredoc, lines, end)
            words, span, _ = self._words(line, joined_lines, 0)
            return words, span, after, body, _commands_before(before)
        words, span, i = self._words(line, lines, i)
        return words, span, i, None, -1

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
        if heredoc[2]:
            return body, i
        # unquoted: bash removes a backslash-newline from the body, joining the two lines
        joined: list[tuple[int, str]] = []
        for number, text_line in body:
            if joined and continued(joined[-1][1]):
                joined[-1] = (joined[-1][0], joined[-1][1][:-1] + text_line)
            else:
                joined.append((number, text_line))
        return self._expanded(joined), i

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
        state, scanned = "", 0  # the quote open at line[scanned], scanned once, in order
        while True:
            if continued(line) and i < len(lines) and span < MAX_JOIN:
                state, scanned = open_quote(line[:-1], state, scanned), len(line) - 1
                if state != "'":  # in single quotes a backslash is itself: the quote goes on
                    line, i, span = (
                        line[:-1] + self._joint(line, lines[i][1], state, span),
                        i + 1,
                        span + 1,
                    )
                    continue
            quote = open_quote(line, quote if span > 1 else "", start)
            if quote and span < MAX_JOIN and i < len(lines) and self.spend():
                start = len(line) + 1  # scan only what is added (a quote open over lines)
                line += "\n" + lines[i][1]
                i, span = i + 1, span + 1
                continue
            expanded = self.expand(line, literal=True)
            if len(expanded) > MAX_VALUE * 4:
                self.stop(
                    f"stopped reading at line {self.at}: a command of {len(expanded):,} characters"
                )
                return None, span, i
            try:
                return shlex.split(spaced(expanded), comments=True), span, i
            except ValueError:
                if span >= MAX_JOIN or i >= len(lines) or not self.spend():
                    if span >= MAX_JOIN:
                        self.stop(
                            f"stopped reading at line {self.at}: a quote open for {MAX_JOIN} lines"
                        )
                    return None, span, i
                line += "\n" + lines[i][1]
                i, span = i + 1, span + 1

    @staticmethod
    def _joint(line: str, following: str, state: str, span: int) -> str:
        """What a backslash-newline leaves, as bash removes it: nothing, so a word split
        over the lines is one word (`vm.swappiness=\\` then `10`); between words outside
        quotes, a marker word saying which line the next words are on (_by_line takes it
        out again)."""
        following = following.replace(_LINE_MARK, _NOT_A_MARK)
        between = line[:-1][-1:].isspace() or following[:1].isspace()
        if state or not between:
            return following.strip() if between and not state else following
        return f" {_LINE_MARK}{span} " + following.strip()

    def expand(self, line: str, literal: bool = False) -> str:
        """$NAME, ${NAME} and $1 replaced where the script gave them a value, except
        inside single quotes (where the shell does not expand either); `literal`: a $
        there is marked as one (_LITERAL), so that `sed -i '$a LINE' F` is no value only
        the run knows (_command puts the $ back)."""
        if literal:  # before "$@": the arguments it quotes are values only the run knows
            line = "".join(p.replace("$", _LITERAL) if q else p for p, q in quoted_parts(line))
        if "@" in self.vars:  # "$@" is each argument as a word of its own
            line = re.sub(r'"\$(?:\{@\}|@)"', lambda _: shlex.join(self.args), line)
        return "".join(p if q else _VAR.sub(self._value, p) for p, q in quoted_parts(line))

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
            closing = closes(text)
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

    def _command(self, cmd, number: int, raw: str, body, span: int, lead: int = 0) -> None:
        """`span`: the script lines the command takes; `lead`: those before a string of it
        that goes over lines (_by_line)."""
        sudo = getattr(cmd, "sudo", ())  # the stages sudo ran (shwords.Pipeline)
        unknown = _UNKNOWN.search(" ".join(redirect(cmd[0])[0])) is not None
        cmd = [[w.replace(_LITERAL, "$") for w in stage] for stage in cmd]
        direct = bool(cmd[0]) and cmd[0][0] == "command"  # `command f`: never the function f
        if direct:
            cmd = [cmd[0][1:], *cmd[1:]]
        words = cmd[0]
        if words and words[0] in DECLARE:
            exports = words[0] == "export" or "-x" in words[1:]
            words = [w for w in words[1:] if not w.startswith("-")]
            if exports:  # what a shell started from here sees
                self.exported.update(w.partition("=")[0] for w in words)
        if words and all(ASSIGN.match(w) for w in words) and len(cmd) == 1:
            for w in words:
                m = ASSIGN.match(w)
                self.vars[m[1]] = m[2]  # type: ignore[index]
            return
        first, target = redirect(cmd[0])
        name = first[0].rsplit("/", 1)[-1] if first else ""
        script = shell_script(name, first[1:]) if name in SHELLS and body is None else None
        if script is not None:
            self._inline(script[0], script[1], number + max(0, span - 1 - script[0].count("\n")))
        elif body and (argv := self._shell_reads(cmd)) is not None:
            # `sudo bash <<EOF`, `cat <<EOF | sudo bash`: the here-document is the script
            # the new shell runs; its lines keep their numbers (a line the expansion
            # dropped stays as a blank one)
            text = {n: t for n, t in body}
            lines = [text.get(n, "") for n in range(body[0][0], body[-1][0] + 1)]
            self._inline("\n".join(lines), argv, body[0][0])
        elif name in self.functions and body is None and not direct:
            self._call(name, first[1:], (number, raw))
        elif body is not None:
            heredoc(cmd, name, target, self.file, body, self.out, self.scratch, sudo)
        elif name in ("mv", "cp", "install"):
            self._moved([w for w in first[1:] if not w.startswith("-")])
        elif name == "sysctl" and self._loaded(first[1:]):
            pass  # the loaded file's lines are read; the command itself sets nothing
        elif first and (_BARE.match(first[0]) or _init_write(first)):
            self._not_shell(first, number, raw)
        elif unknown:
            return  # a value only the script's run knows ($1 of the script, an unset name)
        else:
            command(cmd, self.file, number, raw, self.out, span, self.bash, sudo, lead)

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

    def _not_shell(self, words: list[str], number: int, raw: str) -> None:
        """A line in another language, which the shell runs as a command: `write PATH V`,
        Android init's verb (init.rc), runs write(1), a message to a user, and writes
        nothing; `net.core.somaxconn = 1024` runs "net.core.somaxconn", which is not
        found (exit 127; under set -e the script stops there). What was meant is still
        linted."""
        if _init_write(words):
            before = len(self.out.settings)
            written(" ".join(words[2:]), words[1], self.file, number, raw, self.out)
            for s in self.out.settings[before:]:
                s.problem = "init-verb-in-shell"
            return
        key, _, value = words[0].partition("=")
        if not value and len(words) > 1:
            value = " ".join(words[1:]).lstrip("=").strip()
        s = setting(self.file, number, key, value, raw)
        s.problem = "not-a-command"
        self.out.settings.append(s)

    @staticmethod
    def _shell_reads(cmd) -> list[str] | None:
        """The $0 $1 ... of the shell that reads the here-document as its script: the
        first stage (`bash <<EOF`), or the last one when every stage before it copies its
        input through (`cat <<EOF | sudo bash`); None otherwise."""
        first, _ = redirect(cmd[0])
        last, _ = redirect(cmd[-1])
        stage = first if len(cmd) == 1 else last
        if len(cmd) > 1 and not all(name_of(s) in COPIES_STDIN for s in cmd[:-1]):
            return None
        name = stage[0].rsplit("/", 1)[-1] if stage else ""
        return stdin_script(name, stage[1:]) if name in SHELLS else None

    def _loaded(self, args: list[str]) -> bool:
        """`cat > sysctl.conf <<EOF ... EOF`, then `sysctl --load sysctl.conf`: the
        here-document's lines apply now. False where sysctl loads no scratch file."""
        paths = [p for p in loads_files(args) or [] if p in self.scratch]
        for path in paths:
            # read once: a later `mv` of the same file into /etc/sysctl.d puts the same
            # lines in place, which are already counted
            parse_into(self.scratch.pop(path), "sysctl.conf", self.file, self.out)
        return bool(paths)

    def _moved(self, paths: list[str]) -> None:
        """`mv sysctl.conf /etc/sysctl.conf` after a here-document wrote sysctl.conf."""
        if len(paths) != 2 or paths[0] not in self.scratch:
            return
        fmt = format_of(paths[1])
        if fmt is not None:
            parse_into(self.scratch.pop(paths[0]), fmt, self.file, self.out)


# a command word built from an expansion ("$@", $1, do_$action, "tune_${area}"), eval,
# trap, export -f, or a sourced file: the script may call any of its functions by a name
# that is not written out
_DYNAMIC = re.compile(
    r"(?:^|[;&|`({]|\b(?:then|do|else|exec|sudo|command|time|nohup|xargs)\s)\s*\"?[\w-]*\"?\$"
    r"\{?[A-Za-z0-9_@*!]"
    r"|\b(?:eval|trap|compgen|parallel|source)\b|\b(?:export|declare|typeset)\s+-\w*f"
    r"|(?:^|[;&|]|\bthen|\bdo)\s*\.\s+\S"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


_LINE_MARK = "\x01"  # a word of its own: the joined line the words after it are on
_NOT_A_MARK = "\x02"  # what a \x01 of the file's own becomes (it is no number either)
_LITERAL = "\x03"  # a $ in single quotes, until _command has told it from a value


def _by_line(words: list[str]):
    """(line offset, lead, words) for each command of a backslash-joined line: the offset
    of the line its first word is on, and `lead`, the lines from there to a quoted string
    over lines (`echo \\` then `"a` ...); the marker words taken out."""
    group: list[str] = []
    running, first, string = 0, None, None
    for w in [*words, ";"]:
        if w.startswith(_LINE_MARK) and w[1:].isdigit():
            running = int(w[1:])
            continue
        if first is None and w not in OPERATORS:
            first = running
        if string is None and "\n" in w:
            string = running
        group.append(w)
        if w in OPERATORS:
            start = first if first is not None else running
            yield start, (string - start if string is not None else 0), group
            group, first, string = [], None, None


def _init_write(words: list[str]) -> bool:
    """`write /proc/sys/PATH VALUE` (or a /sys path): Android init's verb."""
    return (
        len(words) > 2
        and words[0] == "write"
        and bool(PROC_SYS.match(words[1]) or SYSFS.match(words[1]))
    )


def _never_called(lines: list[tuple[int, str]], shell: _Shell) -> set[str]:
    """The functions nothing in the script can call: the run did not call them, no line
    outside them (or inside a function that may run) names them, and no line calls by an
    expanded name or sources another file (which may call any of them). A file whose top
    level names none of its functions is a library: its callers are elsewhere, and every
    function counts as called."""
    inside = {n for body in shell.functions.values() for n, _ in body} | set(
        shell.defined_at.values()
    )
    top = [t for n, t in lines if n not in inside and t.strip()]
    if not any(w in shell.functions for t in top for w in _NAME.findall(t)):
        return set()
    maybe = set(shell.called)
    pending = top + [t for name in maybe for _, t in shell.functions[name]]
    while pending:
        text = pending.pop()
        if _DYNAMIC.search(text):
            return set()
        for word in _NAME.findall(text):  # a name in a comment counts: never a false claim
            if word in shell.functions and word not in maybe:
                maybe.add(word)
                pending.extend(t for _, t in shell.functions[word])
    return set(shell.functions) - maybe


def _uses(text: str, names: str) -> bool:
    """Does the line expand one of `names` (a variable name, or positional characters)?"""
    if len(names) > 1 and not names.isidentifier():  # "123456789@*": the arguments
        return re.search(r"\$\{?[1-9@*]", text) is not None
    return re.search(r"\$\{?" + re.escape(names) + r"\b", text) is not None


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


def _commands_before(text: str) -> int:
    """How many commands of a line end before this text does (`cd /x && cat > F <<EOF`:
    1): the here-document goes to the next one."""
    try:
        words = shlex.split(spaced(text), comments=True)
    except ValueError:
        return 0
    return sum(w in OPERATORS for w in words)


def _heredoc_joined(line: str, heredoc: re.Match | None, lines, i: int):
    """A here-document in a backslash-joined command (`line` and the lines from i on):
    (the first line and the joined ones with the operator taken out, the operator,
    where the joined command ends: its body starts there), or None. A comment ends the
    command at its line (its backslash continues nothing), and a `<<` in it is no
    operator."""
    if not continued(line):
        return None
    text, k, found = line[:-1], i, None
    while k < len(lines) and k - i < MAX_JOIN:
        following = lines[k][1].rstrip()
        cut = comment_at(following, open_quote(text, "", 0), text[-1:].isspace() or not text)
        code = following if cut is None else following[:cut]
        m = _HEREDOC.search(code) if heredoc is None and found is None else None
        if m is not None and not open_quote(text + code[: m.start()], "", 0):
            found = (k, m)
        k += 1
        if cut is not None or not continued(following):
            break
        text += following[:-1]
    joined = list(lines[i:k])
    if heredoc is not None:
        before = line[: heredoc.start()]
        return before + line[heredoc.end() :], joined, heredoc, k, before
    if found is None:
        return None
    at, m = found
    number, raw = joined[at - i]
    raw = raw.rstrip()
    joined[at - i] = (number, raw[: m.start()] + raw[m.end() :])
    before = line[:-1] + "".join(r.rstrip()[:-1] for _, r in joined[: at - i]) + raw[: m.start()]
    return line, joined, m, k, before


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
