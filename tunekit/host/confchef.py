"""Chef (Ruby) cookbooks: sysctl attributes and `sysctl` resources, read line by line.

Two forms set a sysctl from Chef:

- a node attribute under a sysctl cookbook's hash, which the cookbook's recipe writes to
  /etc/sysctl.d and applies: `default['sysctl']['params']['vm']['swappiness'] = 10` (the
  sysctl cookbook joins the nested keys with dots), `node.default['fb_sysctl']
  ['vm.swappiness'] = 1`, `default[:sysctl][:values]['kernel.sysrq'] = 0`. The key is
  the path after a `sysctl`, `fb_sysctl`, `params` or `values` component, from a component
  that names a sysctl tree (net, vm, kernel, fs, ...);
- a resource block, Chef's own since 14.0 (and sysctl_param before it):
  `sysctl 'fs.file-max' do` ... `value 110_000` ... `end` (also `sysctl('k') do |r|`,
  `r.value 0`, and the one-line `sysctl('k') { value 0 }`), read at the value's line (the
  line the user edits). The block ends at its own `end`: an inner `do ... end` or `if ...
  end` (a guard) is skipped over, and `end # comment` or `end.run_action(:apply)` close it
  as `end` does. `action :remove` deletes the setting, and `action :nothing` applies it
  only when notified: neither sets anything here;
- an `execute` resource, whose command chef-client (as root) runs through a shell:
  `execute 'sysctl -w vm.swappiness=10'` (the name is the command), or a block with
  `command '...'`: the command is read as a script's line, at its own line.

A value is read when it is a Ruby literal, as Chef writes it to sysctl.d (`to_s`, an array
joined with spaces): an integer (`110_000` is 110000, `0x10` 16, `010` 8: Ruby's octal),
a float, a quoted string without interpolation, or an array of those. Anything computed
(`node['x'] * 2`, `"#{limit}"`) is a value only the Chef run knows, and is not judged.
Attributes given as a hash (`default['sysctl']['params'] = {...}`, a role's
`default_attributes`) are not read. This is not a Ruby parser: a line is read as one
statement, as cookbooks write them.
"""

from __future__ import annotations

import re

from tunekit.host.confparse import Parsed, placed, sysctl_conf

_TREES = {"abi", "crypto", "debug", "dev", "fs", "kernel", "net", "sunrpc", "user", "vm"}
_HASHES = {"sysctl", "fb_sysctl", "params", "values"}  # what a sysctl key's path follows
_PRECEDENCE = r"(?:node\.)?(?:default|override|normal|set|force_default|force_override)(?:_unless)?"
_COMPONENT = re.compile(r"""\[\s*(?:'([^'\\]*)'|"([^"\\#]*)"|:([A-Za-z_]\w*))\s*\]""")
_ATTRIBUTE = re.compile(rf"^\s*{_PRECEDENCE}((?:\[[^\]]*\])+)\s*=(?!=)(.*)$")
_RESOURCE = re.compile(
    r"""^\s*(?:sysctl|sysctl_param)\s*\(?\s*(['"])([^'"#]+)\1\s*\)?\s*"""
    r"""(?:do\b\s*(?:\|\s*(\w+)\s*\|)?|(\{))(.*)$"""
)
_EXECUTE = re.compile(r"""^\s*execute\s*\(?\s*('[^']*'|"[^"]*")\s*\)?\s*(do\b.*|\{.*)?$""")
_OPENS = re.compile(r"\bdo\s*(\|[^|]*\|)?\s*$|^\s*(if|unless|case|begin|while|until)\b")
_CLOSES = re.compile(r"^\s*end\b")
_NUMBER = re.compile(r"^[-+]?(0[xX][0-9a-fA-F_]+|0[oObB]?[0-7_]+|[0-9][0-9_]*(\.[0-9]+)?)$")
MAX_BLOCK = 200  # lines a resource block may span before its `end` counts as lost


def _code(line: str) -> str:
    """The line without its comment (a # outside quotes)."""
    quote = ""
    for k, c in enumerate(line):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#":
            return line[:k]
    return line


def _number(text: str) -> str | None:
    if not _NUMBER.match(text):
        return None
    digits = text.replace("_", "")
    if "." in digits:
        return digits
    try:
        return str(int(digits, 0) if not re.match(r"^[-+]?0[0-7]", digits) else int(digits, 8))
    except ValueError:
        return None


def literal(text: str) -> str | None:
    """A Ruby literal's text as Chef writes it to sysctl.d; None when it is computed."""
    text = _code(text).strip()
    if (number := _number(text)) is not None:
        return number
    if len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1]:
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"' and not re.search(r'["\\]|#\{', text[1:-1]):
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):  # Chef joins an array with spaces
        items = [literal(t) for t in text[1:-1].split(",")] if text[1:-1].strip() else []
        if items and all(i is not None for i in items):
            return " ".join(i for i in items if i is not None)
    return None


def attribute_key(path: str) -> str | None:
    """`['sysctl']['params']['net']['ipv4']['tcp_sack']` -> net.ipv4.tcp_sack."""
    parts = [a or b or c for a, b, c in _COMPONENT.findall(path)]
    if "".join(f"[{p}]" for p in parts).count("[") != path.count("["):
        return None  # a component that is not a literal (node['x'][var])
    for i, part in enumerate(parts):
        if i and part.split(".")[0] in _TREES and parts[i - 1] in _HASHES:
            if "sysctl" in parts[:i] or "fb_sysctl" in parts[:i]:
                return ".".join(parts[i:])
    return None


def chef(text: str, file: str) -> Parsed:
    out = Parsed("chef")
    rows = text.splitlines()
    i = 0
    while i < len(rows):
        raw = rows[i]
        if m := _ATTRIBUTE.match(raw):
            key, value = attribute_key(m[1]), literal(m[2])
            if key and value is not None:
                _add(out, file, i + 1, key, value, raw)
        elif m := _RESOURCE.match(_code(raw)):
            i = _resource(out, file, rows, i, m)
        elif m := _EXECUTE.match(_code(raw)):
            i = _execute(out, file, rows, i, m)
        i += 1
    return out


def _execute(out: Parsed, file: str, rows: list[str], start: int, m: re.Match) -> int:
    """`execute 'CMD'`, or a block whose `command '...'` replaces the name; returns the
    index of the line that closes it."""
    at, command = start, literal(m[1])
    last = start
    if m[2] and m[2].startswith("do") and not re.search(r"\bend\s*$", m[2]):
        body, last = _block(rows, start)
        for k, line in body:
            if re.match(r"^\s*action\s*\(?\s*\[?\s*:nothing\b", line):
                return last  # runs only when notified
            if c := re.match(r"^\s*command\s*\(?\s*(.*?)\s*\)?\s*$", line):
                at, command = k, literal(c[1])
    if command:
        from tunekit.host import confscript  # which reads the other formats through confparse

        # chef-client runs the command as root
        placed(confscript.script(command, file, as_root=True), out, at + 1, rows[at])
    return last


def _block(rows: list[str], start: int) -> tuple[list[tuple[int, str]], int]:
    """(the lines of the `do ... end` block opened at `start` that are its own, not an
    inner block's; the index of the line that closes it)."""
    body: list[tuple[int, str]] = []
    depth, last = 1, start
    for k in range(start + 1, min(len(rows), start + 1 + MAX_BLOCK)):
        last, line = k, _code(rows[k])
        if _CLOSES.match(line):
            depth -= 1
            if depth == 0:
                break
        elif _OPENS.search(line):
            depth += 1
        elif depth == 1:
            body.append((k, line))
    return body, last


def _resource(out: Parsed, file: str, rows: list[str], start: int, m: re.Match) -> int:
    """A `sysctl 'KEY' do ... end` block (or `{ ... }` on one line); returns the index
    of the line that closes it."""
    name, var, brace, rest = m[2].strip(), m[3], m[4], m[5]
    body: list[tuple[int, str]] = []
    last = start
    if brace or rest.strip():  # one line: `sysctl('k') { value 0 }`, `do value 0 end`
        inner = re.sub(r"(\}|\bend\b)[^}]*$", "", rest).strip()
        body = [(start, part) for part in inner.split(";")]
    else:
        body, last = _block(rows, start)
    prop = rf"^\s*(?:{var}\.)?" if var else r"^\s*"
    key, found, skipped = name, None, False
    for k, line in body:
        if p := re.match(prop + r"""key\s*\(?\s*(['"])([^'"#]+)\1""", line):
            key = p[2].strip()
        elif re.match(prop + r"action\s*\(?\s*\[?\s*:(remove|nothing)\b", line):
            skipped = True
        elif p := re.match(prop + r"value(?:\s+|\s*\()(.*)$", line):
            text = p[1].strip()
            found = (k, text[:-1] if "(" in line[: p.start(1)] and text.endswith(")") else text)
    if found and not skipped and (value := literal(found[1])) is not None:
        _add(out, file, found[0] + 1, key, value, rows[found[0]])
    return last


def _add(out: Parsed, file: str, line: int, key: str, value: str, raw: str) -> None:
    placed(sysctl_conf(f"{key} = {value}", file), out, line, raw)
