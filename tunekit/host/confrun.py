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

import shlex

from tunekit.host import confscript
from tunekit.host.confparse import Parsed, Problem, Setting
from tunekit.host.shwords import name_of, strip_prefixes

# Ansible module -> does a shell run its command line?
ANSIBLE_COMMANDS = {
    "shell": True,
    "ansible.builtin.shell": True,
    "raw": True,
    "ansible.builtin.raw": True,
    "command": False,
    "ansible.builtin.command": False,
}
CLOUD_INIT_COMMANDS = ("runcmd", "bootcmd")
# run without a shell, these still do what the line says: they are the program
_NO_SHELL_NEEDED = ("sysctl", "ulimit", "prlimit")


def script_lines(text: str, node, file: str, shell: bool) -> Parsed:
    """The settings of one command line (or a shell script, for a literal block), at the
    lines of the YAML file they are on."""
    parsed = confscript.script(text, file)
    if not shell and not _runs_a_shell(text):
        program = _program(text)
        if program not in _NO_SHELL_NEEDED:
            for s in parsed.settings:
                s.problem = s.problem or "no-shell"
    first = node.start_mark.line + 1 + (node.style == "|")
    items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
    for item in items:
        item.line = first + item.line - 1 if node.style == "|" else first
    return parsed


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
