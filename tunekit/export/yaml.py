"""A small YAML writer for the shapes export prints (mappings, lists, scalars, comments,
file contents as literal blocks), so that tunekit needs no YAML library: what it writes is
read back by PyYAML in the tests and by Ansible and kubectl in use.

Strings that could read as anything else (a number, a bool, null, a flow sign) are
double-quoted, with every character YAML would not keep as it is (a control, a line
separator, a byte-order mark) escaped by its code point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./@-]*( [A-Za-z0-9_./@()-]+)*$")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


@dataclass(frozen=True)
class Comment:
    """A comment line among a mapping's entries or a list's items."""

    text: str


_BREAKS = {"\x85", "\u2028", "\u2029", "\ufeff"}  # YAML folds or drops these unescaped


def _char(c: str) -> str:
    if c in ('"', "\\"):
        return "\\" + c
    if (" " <= c <= "~") or (c >= "\xa0" and c.isprintable() and c not in _BREAKS):
        return c
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def quoted(text: str) -> str:
    """A YAML double-quoted scalar that reads back as `text`."""
    return '"' + "".join(_char(c) for c in text) + '"'


def scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return quoted(text)


def _block_ok(text: str) -> bool:
    """Can `text` be a literal block (`|`): one final newline, printable lines, no line
    that starts with a space (the first line would set the indentation) or ends in one."""
    if not text.endswith("\n") or text.endswith("\n\n") or "\r" in text:
        return False
    lines = text[:-1].split("\n")
    if not lines[0] or not lines[-1]:  # a blank first or last line would not read back
        return False
    return all(
        line.isprintable() and not line.startswith((" ", "\t")) and line == line.rstrip()
        for line in lines
    )


def _comment(text: str, pad: str) -> list[str]:
    return [f"{pad}# {line}".rstrip() for line in text.splitlines() or [""]]


def _value(value, indent: int) -> tuple[str, list[str]]:
    """(what follows 'key:' on its line, the lines under it)."""
    pad = " " * indent
    if isinstance(value, dict):
        return "", _mapping(value, indent)
    if isinstance(value, list):
        return ("[]", []) if not value else ("", _list(value, indent))
    if isinstance(value, str) and "\n" in value and _block_ok(value):
        return "|", [f"{pad}{line}".rstrip() for line in value[:-1].split("\n")]
    return scalar(value), []


def _mapping(m: dict, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for k, v in m.items():
        if isinstance(v, Comment):
            out += _comment(v.text, pad)
            continue
        head, rest = _value(v, indent + 2)
        out.append(f"{pad}{scalar(k)}:" + (f" {head}" if head else ""))
        out += rest
    return out


def _list(items: list, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for item in items:
        if isinstance(item, Comment):
            out += _comment(item.text, pad)
        elif isinstance(item, dict):
            inner = _mapping(item, indent + 2)
            out.append(f"{pad}- " + inner[0][indent + 2 :])
            out += inner[1:]
        else:
            head, rest = _value(item, indent + 2)
            out.append(f"{pad}- {head}")
            out += rest
    return out


def dump(value, comments: list[str] | None = None) -> str:
    """One YAML document: the comment lines, then the value (a mapping or a list)."""
    lines = [line for c in comments or [] for line in _comment(c, "")]
    if isinstance(value, dict):
        lines += _mapping(value, 0)
    else:
        lines += _list(value, 0) or ["[]"]
    return "\n".join(lines) + "\n"
