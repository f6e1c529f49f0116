"""Tuning text held inside another document: a Markdown guide's code blocks, and the
strings and heredocs of a Terraform (HCL) file.

- Markdown (`*.md`): each fenced block (```` ``` ```` or `~~~`, with or without an info
  string) is read as the format it is written in: the info string when it names a shell
  (`sh`, `bash`, `shell`, `console`: a `$ ` prompt is taken off), else the format its lines
  look like (a sysctl.conf block, a limits.conf block, a script). Prose is not read: a
  guide's text is not applied by anything.
- HCL (`*.tf`, `*.tfvars`, `*.hcl`): a string that is a sysctl assignment, as a list of
  them is handed to `sysctl -w` (`"net.core.somaxconn=4096",`), a map entry whose key is a
  sysctl (`"net.core.somaxconn" = "4096"`, as kubelet and node-group modules take them),
  and a heredoc (`user_data = <<-EOF ... EOF`: a script or a cloud-config) read as the
  format it holds. An interpolation (`${var.x}`) is a value only the plan knows.

Every setting keeps the line of the document it is on.
"""

from __future__ import annotations

import re

from tunekit.host.confparse import Parsed, Problem, Setting

_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)\s*([\w+-]*)")
_SHELLS = {"sh", "bash", "shell", "zsh", "console", "shell-session", "shellsession"}
_TREES = r"(?:abi|crypto|debug|dev|fs|kernel|net|sunrpc|user|vm)"
_ASSIGNMENT = re.compile(rf'^\s*"({_TREES}\.[\w.\-/]+)\s*=\s*([^"$]*)"\s*,?\s*(?:(?:#|//).*)?$')
_MAP_ENTRY = re.compile(
    rf'^\s*"?({_TREES}\.[\w.\-/]+)"?\s*[=:]\s*(?:"([^"$]*)"|(-?\d+))\s*,?\s*(?:(?:#|//).*)?$'
)
_HEREDOC = re.compile(r"<<(-?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
MAX_BLOCKS = 10_000


def _shifted(parsed: Parsed, offset: int, into: Parsed) -> None:
    items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
    for item in items:
        item.line += offset
    into.settings += parsed.settings
    into.problems += parsed.problems
    into.unread += parsed.unread


def _read_block(lines: list[str], file: str, fmt: str | None, offset: int, out: Parsed) -> None:
    from tunekit.host import confparse

    text = "\n".join(lines)
    fmt = fmt or confparse.detect(text)
    if fmt is not None and text.strip():
        _shifted(confparse.parse(text, file, fmt), offset, out)


def _unquoted(value: str) -> str | None:
    """A `key=value` string is a `sysctl -w` argument: its quotes go as a shell (or
    systemd's ExecStart= splitting) takes them off (`tcp_rmem='4096 87380 6291456'`)."""
    import shlex

    try:
        words = shlex.split(value)
    except ValueError:
        return None
    return " ".join(words)


def markdown(text: str, file: str) -> Parsed:
    out = Parsed("markdown")
    rows = text.splitlines()
    i = blocks = 0
    while i < len(rows) and blocks < MAX_BLOCKS:
        m = _FENCE.match(rows[i])
        if not m:
            i += 1
            continue
        fence, info = m[1], m[2].lower()
        start, i = i + 1, i + 1
        while i < len(rows) and not rows[i].strip().startswith(fence):
            i += 1
        body = rows[start:i]
        if info in ("console", "shell-session", "shellsession"):
            body = [re.sub(r"^\s*\$ ", "", line) for line in body]
        _read_block(body, file, "script" if info in _SHELLS else None, start, out)
        i += 1
        blocks += 1
    if blocks >= MAX_BLOCKS:
        out.unread.append(f"stopped after {MAX_BLOCKS} code blocks")
    return out


def hcl(text: str, file: str) -> Parsed:
    from tunekit.host.confparse import placed, sysctl_conf

    out = Parsed("hcl")
    rows = text.splitlines()
    i = 0
    while i < len(rows):
        row = rows[i]
        if h := _HEREDOC.search(row):
            strip, word = h[1] == "-", h[2]
            start, i = i + 1, i + 1
            while i < len(rows) and (rows[i].strip() if strip else rows[i]) != word:
                i += 1
            body = rows[start:i]
            if strip:  # <<-: the common indentation goes (Terraform's indented heredoc)
                indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
                body = [b[indent:] for b in body]
            _read_block(body, file, None, start, out)  # `${var.x}`: a value only the plan knows
            i += 1
            continue
        m = _ASSIGNMENT.match(row)
        key, value = (m[1], _unquoted(m[2])) if m else (None, None)
        if m is None and (e := _MAP_ENTRY.match(row)):
            key, value = e[1], e[2] if e[2] is not None else e[3]
        if key is not None and value is not None:
            placed(sysctl_conf(f"{key} = {value}", file), out, i + 1, row)
        i += 1
    return out
