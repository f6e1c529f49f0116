"""Chef (Ruby) cookbooks: sysctl attributes and `sysctl` resources, read line by line.

Two forms set a sysctl from Chef:

- a node attribute under a sysctl cookbook's hash, which the cookbook's recipe writes to
  /etc/sysctl.d and applies: `default['sysctl']['params']['vm']['swappiness'] = 10` (the
  sysctl cookbook joins the nested keys with dots), `node.default['fb_sysctl']
  ['vm.swappiness'] = 1`, `default[:sysctl][:values]['kernel.sysrq'] = 0`. The key is
  the path from its first component that names a sysctl tree (net, vm, kernel, fs, ...),
  after a component whose name holds "sysctl";
- a resource block, Chef's own since 14.0 (and sysctl_param before it):
  `sysctl 'fs.file-max' do` ... `value 110_000` ... `end`, read at the value's line (the
  line the user edits); `action :remove` deletes the setting and sets nothing.

A value is read when it is a Ruby literal: an integer (`110_000` is 110000), a float, or
a quoted string without interpolation. Anything computed (`node['x'] * 2`,
`"#{limit}"`) is a value only the Chef run knows, and is not judged. This is not a Ruby
parser: a line is read as one statement, as cookbooks write them.
"""

from __future__ import annotations

import re

from tunekit.host.confparse import Parsed, sysctl_conf

_TREES = {"abi", "crypto", "debug", "dev", "fs", "kernel", "net", "sunrpc", "user", "vm"}
_PRECEDENCE = r"(?:node\.)?(?:default|override|normal|set|force_default|force_override)"
_COMPONENT = re.compile(r"""\[\s*(?:'([^'\\]*)'|"([^"\\#]*)"|:([A-Za-z_]\w*))\s*\]""")
_ATTRIBUTE = re.compile(rf"^\s*{_PRECEDENCE}((?:\[[^\]]*\])+)\s*=(?!=)(.*)$")
_RESOURCE = re.compile(r"""^\s*(sysctl|sysctl_param)\s+(['"])([^'"#]+)\2\s+do\b(.*)$""")
_VALUE = re.compile(r"^\s*value(?:\s+|\s*\()(.*)$")
_KEY = re.compile(r"""^\s*key\s+(['"])([^'"#]+)\1\s*$""")
_REMOVE = re.compile(r"^\s*action\s+\[?\s*:remove\b")
_END = re.compile(r"^\s*end\s*$")
_NUMBER = re.compile(r"^-?[0-9][0-9_]*(\.[0-9]+)?$")
MAX_BLOCK = 200  # lines a resource block may span before its `end` counts as lost


def literal(text: str) -> str | None:
    """A Ruby literal's text as Chef writes it to sysctl.d (`to_s`); None when computed."""
    text = re.sub(r"\s+#.*$", "", text.strip())  # a trailing comment
    if _NUMBER.match(text):
        return text.replace("_", "")
    if len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1]:
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"' and not re.search(r'["\\]|#\{', text[1:-1]):
        return text[1:-1]
    return None


def attribute_key(path: str) -> str | None:
    """`['sysctl']['params']['net']['ipv4']['tcp_sack']` -> net.ipv4.tcp_sack."""
    parts = [a or b or c for a, b, c in _COMPONENT.findall(path)]
    if "".join(f"[{p}]" for p in parts).count("[") != path.count("["):
        return None  # a component that is not a literal (node['x'][var])
    for i, part in enumerate(parts):
        if part.split(".")[0] in _TREES and any("sysctl" in p for p in parts[:i]):
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
        elif m := _RESOURCE.match(raw):
            i = _resource(out, file, rows, i, m[3].strip(), m[4])
        i += 1
    return out


def _resource(out: Parsed, file: str, rows: list[str], start: int, name: str, rest: str) -> int:
    """A `sysctl 'KEY' do ... end` block; returns the index of its `end`."""
    if rest.strip():  # one line: `sysctl 'k' do value 0 end`
        body = [(start, rest.strip().removesuffix("end").strip())]
        last = start
    else:
        body, last = [], start
        for k in range(start + 1, min(len(rows), start + 1 + MAX_BLOCK)):
            last = k
            if _END.match(rows[k]):
                break
            body.append((k, rows[k]))
    key, found, removed = name, None, False
    for k, line in body:
        if m := _KEY.match(line):
            key = m[2].strip()
        elif _REMOVE.match(line):
            removed = True
        elif m := _VALUE.match(line):
            found = (k, m[1].strip().removesuffix(")") if "(" in line else m[1])
    if found and not removed and (value := literal(found[1])) is not None:
        _add(out, file, found[0] + 1, key, value, rows[found[0]])
    return last


def _add(out: Parsed, file: str, line: int, key: str, value: str, raw: str) -> None:
    parsed = sysctl_conf(f"{key} = {value}", file)
    for s in parsed.settings:
        s.line, s.text = line, raw
        out.settings.append(s)
    out.problems += [_at(p, line, raw) for p in parsed.problems]


def _at(item, line: int, raw: str):
    item.line, item.text = line, raw
    return item
