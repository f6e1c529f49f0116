"""Command lines a YAML file runs, read as scripts: Ansible's shell, command and raw
tasks, and cloud-init's runcmd and bootcmd (its write_files go through confyaml's
text_into, as the lines of the file they write).

Whether a shell runs the line decides what it does. Ansible's shell and raw modules run
it with /bin/sh, as does cloud-init with an item given as a string. Ansible's command
module does not ("The command(s) will not be processed through the shell, so ... "<",
">", "|", ";" and "&" will not work": ansible.builtin.command's documentation), nor does
cloud-init with an item given as a list ("executed as if passed to execve(3)":
cloud-init's doc/examples/cloud-config-run-cmds.txt). Without a shell, `sysctl -w k=v`
still works, since sysctl is the program run, but `echo 1 > /proc/sys/...` gives echo
the words ">" and the path, which it prints: nothing is written (the `no-shell` rule).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable

from tunekit.host import confscript
from tunekit.host import yamlnodes as Y
from tunekit.host.confparse import Parsed, Problem, Setting
from tunekit.host.shwords import name_of, strip_prefixes

# Ansible module -> does a shell run its command line? (ansible.legacy.X is the same X)
ANSIBLE_COMMANDS = {
    f"{prefix}{name}": shell
    for name, shell in (("shell", True), ("raw", True), ("command", False))
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
}
# what Ansible takes out of a free-form command line as the module's own options
# (lib/ansible/parsing/splitter.py parse_kv with check_raw, the command module's args)
_OPTIONS = re.compile(
    r"(?:^|\s)(?:chdir|creates|removes|executable|warn|stdin|stdin_add_newline"
    r"|strip_empty_ends|expand_argument_vars)=(?:\"[^\"]*\"|'[^']*'|\S*)"
)
CLOUD_INIT_COMMANDS = ("runcmd", "bootcmd")
_SYSCTL_WORD = re.compile(r"(?<![\w./-])sysctl(?![\w.-])")  # the command, not sysctl.conf

# run without a shell, these still do what the line says: they are the program (ulimit is
# a shell builtin, with no program of its own to run)
_NO_SHELL_NEEDED = ("sysctl", "prlimit")


def script_lines(text: str, node, file: str, shell: bool) -> Parsed:
    """The settings of one command line (or a shell script, for a literal block), at the
    lines of the YAML file they are on."""
    return script_of([(text, node, shell)], file)


def script_of(pieces: list[tuple[str, object, bool]], file: str) -> Parsed:
    """Pieces (text, its YAML node, whether a shell runs it) read as one script, as
    cloud-init writes its runcmd items into one file for sh (a list item shell-quoted,
    so its > and | are words): variables set in one piece reach the next. Each setting
    is put back on the YAML line its text came from."""
    lines: list[str] = []
    origin: list[tuple[int, bool]] = []  # per script line: (YAML line, run without a shell)
    for text, node, shell in pieces:
        mark = node.start_mark.line + 1  # type: ignore[attr-defined]
        literal = getattr(node, "style", None) == "|"
        bare = not shell and not _runs_a_shell(text) and _program(text) not in _NO_SHELL_NEEDED
        for k, line in enumerate(text.split("\n")):
            lines.append(line)
            origin.append((mark + 1 + k if literal else mark, bare))
    # cloud-init runs its commands as root; an Ansible task as whoever `become` makes it,
    # which the task's file does not always say: no sudo-redirect claim in either
    parsed = confscript.script("\n".join(lines), file, as_root=True)
    for s in parsed.settings:
        if 0 < s.line <= len(origin) and origin[s.line - 1][1]:
            s.problem = s.problem or "no-shell"
    items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
    for item in items:
        item.line = origin[item.line - 1][0] if 0 < item.line <= len(origin) else item.line
    return parsed


def free_form(text: str) -> str:
    """An Ansible command task's free form without the options Ansible takes out of it
    (`echo 1 > /proc/sys/x chdir=/tmp` runs `echo 1 > /proc/sys/x` in /tmp)."""
    return _OPTIONS.sub("", text).rstrip()


def argv_text(words: list[str]) -> str:
    """A list given as execve's argv, as one line: `sh -c "..."` stays a shell's."""
    return shlex.join(words)


def _words(text: str) -> list[str]:
    try:
        return strip_prefixes(shlex.split(text, comments=False))
    except ValueError:
        return []


def _program(text: str) -> str:
    return name_of(_words(text))


def _runs_a_shell(text: str) -> bool:
    """The program run is itself a shell given a script (`sh -c '...'`, `bash -c`)."""
    words = _words(text)
    return bool(words) and name_of(words) in confscript.SHELLS and "-c" in " ".join(words[1:3])


class Commands:
    """The readers of command lines, for confyaml's walk: an Ansible command task, and
    cloud-init's runcmd, bootcmd and write_files (the walk's `file`, `out`, `consumed`,
    `text_into` and `_text`)."""

    file: str
    out: Parsed
    consumed: set[int]
    text_into: Callable[..., None]
    _text: Callable[..., None]

    def command_task(self, fields: dict, node, shell: bool) -> None:
        """shell, command, raw: the free form or `cmd:` (command's `argv:` list, run
        without a shell), once per item of the task's loop."""
        self.consumed.add(id(node))
        if Y.scalar(node) in (None, "") and "args" in fields:
            node = fields["args"]  # `shell:` with its command under `args: cmd:`
        if node.id == "mapping":
            args = Y.args(node)
            argv = args.get("argv")
            if args.get("cmd") is None and argv is not None and argv.id == "sequence":
                words = [Y.scalar(w) or "" for w in argv.value]
                node, shell = Y.Scalar(argv_text(words), argv.start_mark), False
            else:
                node = args.get("cmd")
        if node is None or node.id != "scalar":
            return
        if not isinstance(node, Y.Scalar):
            node = Y.Scalar(free_form(str(node.value)), node.start_mark, node.style)
        loop = next((fields[k] for k in Y.LOOPS if k in fields), None)
        if loop is None or loop.id != "sequence" or "{{" not in str(node.value):
            self.run(str(node.value), node, shell)
            return
        self.consumed.add(id(loop))
        for i in loop.value:  # each run is reported on its item's line
            item = {**(Y.args(i) if i.id == "mapping" else {}), "": i}
            self.run(Y.fill(str(node.value), item) or "", Y.Scalar("", i.start_mark), shell)

    def pod_containers(self, fields: dict) -> None:
        """A pod spec's containers and initContainers: each one's `command` and `args`,
        execve'd in the container (`sh -c SCRIPT` runs the script)."""
        for list_name in ("initContainers", "containers"):
            node = fields.get(list_name)
            for item in node.value if node is not None and node.id == "sequence" else ():
                args = Y.args(item) if item.id == "mapping" else {}
                if "image" in args:
                    context = Y.args(args.get("securityContext"))
                    self.container_command(args, ("command", "args"), context.get("privileged"))

    def container_command(self, args: dict, parts: tuple[str, ...], privileged) -> None:
        """A container's command (a pod's command and args, a compose service's
        entrypoint and command: a list, or a string split into words, as compose splits
        it). An unprivileged container's /proc/sys and /sys are mounted read-only by the
        runtime, so its writes there fail (`container-proc-read-only`); a privileged one's
        take effect, host-wide for a global key. A file it writes (/etc/sysctl.conf) is
        the container's own, applied by nobody: not read."""
        words: list[str] = []
        at: list[int] = []  # the YAML line of each word given as a list item
        first = None
        for part in parts:
            node = args.get(part)
            if node is not None and node.id == "sequence":
                words += [Y.scalar(w) or "" for w in node.value]
                at += [w.start_mark.line + 1 for w in node.value]
            elif node is not None and node.id == "scalar" and node.value:
                words += _words(str(node.value)) or [str(node.value)]
            else:
                continue
            first = first or node
        if not words or first is None:
            return
        parsed = script_lines(argv_text(words), Y.Scalar("", first.start_mark), self.file, False)
        kept = []
        for s in parsed.settings:
            direct = s.kind == "sysfs" or "/proc/sys" in s.text or _SYSCTL_WORD.search(s.text)
            if s.kind in ("sysctl", "sysfs") and not direct:
                continue  # a file inside the container: nobody there applies it
            if s.kind in ("sysctl", "sysfs") and not Y.truthy(privileged) and not s.problem:
                s.problem = "container-proc-read-only"
            kept.append(s)
        parsed.settings = kept
        if len(at) == len(words):  # `- sysctl`, `- -w`, `- KEY=V`: each on its item's line
            items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
            start = 0  # a key given twice: the second setting is on the later item
            for item in sorted(items, key=lambda x: isinstance(x, Problem)):
                forms = (item.key, item.key.replace(".", "/"))
                hits = [k for k, w in enumerate(words) if any(f and f in w for f in forms)]
                k = next((k for k in hits if k >= start), hits[0] if hits else None)
                if k is not None:
                    item.line = at[k]
                    start = k + 1 if isinstance(item, Setting) else start
        self.add_script(parsed, first)

    def cloud_init(self, fields: dict) -> None:
        """cloud-config, in the order cloud-init runs it: bootcmd (each boot, early),
        write_files (each file's content, read as that file), runcmd (first boot, last).
        A command given as a string is run by sh, one given as a list is execve'd."""
        self.cloud_commands(fields.get("bootcmd"))
        files = fields.get("write_files")
        for item in files.value if files is not None and files.id == "sequence" else ():
            args = Y.args(item) if item.id == "mapping" else {}
            path, content = Y.scalar(args.get("path")), args.get("content")
            if path and content is not None and content.id == "scalar":
                self.consumed.add(id(item))
                text = _cloud_content(content, Y.scalar(args.get("encoding")) or "")
                if text is not None:
                    node = content if text == content.value else Y.Scalar(text, content.start_mark)
                    # cloud-init writes the content as it is (no Jinja unless the user data
                    # says `## template: jinja`, which applies to the whole document)
                    self.text_into(node, os.path.normpath(path), jinja=False)
        self.cloud_commands(fields.get("runcmd"))

    def cloud_commands(self, node) -> None:
        """runcmd or bootcmd: every item into one script, as cloud-init writes it."""
        if node is None or node.id != "sequence":
            return
        self.consumed.add(id(node))
        pieces: list[tuple[str, object, bool]] = []
        for item in node.value:
            self.consumed.add(id(item))
            if item.id == "scalar":
                pieces.append((str(item.value), item, True))
            elif item.id == "sequence":
                words = [Y.scalar(w) or "" for w in item.value]
                pieces.append((argv_text(words), Y.Scalar("", item.start_mark), False))
        self.add_script(script_of(pieces, self.file), node)

    def run(self, text: str, node, shell: bool) -> None:
        if "{{" in text:
            return  # a template only the play knows
        self.add_script(script_lines(text, node, self.file, shell), node)

    def add_script(self, parsed: Parsed, node) -> None:
        items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
        for item in items:
            self._text(item)
        self.out.settings += parsed.settings
        self.out.problems += parsed.problems
        self.out.unread += [f"line {node.start_mark.line + 1}: {u}" for u in parsed.unread]


MAX_CONTENT = 1 << 20  # bytes of a decoded write_files content read, at most


def _cloud_content(node, encoding: str) -> str | None:
    """A write_files content as cloud-init writes it (cc_write_files.py extract_contents:
    the encoding lower-cased; b64/base64, gz/gzip and gz+b64; an unknown one is taken as
    text/plain; a YAML !!binary value is already bytes). None where it cannot be read."""
    import base64
    import binascii
    import zlib

    enc = encoding.strip().lower()
    steps = {
        "b64": ["b64"],
        "base64": ["b64"],
        "gz": ["gz"],
        "gzip": ["gz"],
        "gz+b64": ["b64", "gz"],
        "gz+base64": ["b64", "gz"],
        "gzip+b64": ["b64", "gz"],
        "gzip+base64": ["b64", "gz"],
    }.get(enc, [])
    if node.tag == "tag:yaml.org,2002:binary" and steps[:1] != ["b64"]:
        steps = ["b64", *steps]
    data: bytes = str(node.value).encode()
    try:
        for step in steps:
            if step == "b64":
                data = base64.b64decode("".join(data.decode("ascii").split()), validate=True)
            else:
                z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = z.decompress(data, MAX_CONTENT)
        return data[:MAX_CONTENT].decode("utf-8")
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError):
        return None
