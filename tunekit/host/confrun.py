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

import re
import shlex

from tunekit.host import confscript
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
    parsed = confscript.script("\n".join(lines), file)
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
