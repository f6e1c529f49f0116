"""Puppet manifests (`*.pp`): sysctl resources, read line by line.

The sysctl modules of the Forge declare a resource per key, which they write to
/etc/sysctl.conf or /etc/sysctl.d and apply:

    sysctl { 'net.ipv4.ip_forward': value => '1' }          # augeasproviders_sysctl
    sysctl::value { 'vm.swappiness': value => 10 }          # duritong/sysctl
    sysctl::conf { 'kernel.pid_max': value => 4194304, }    # and other defines

Each is judged as the sysctl.d line it becomes, at the line of its `value =>` (the line
the user edits). stdlib's `file_line { 'x': path => '/etc/sysctl.conf', line => 'K = V' }`
puts its line into the file (`match` only says which line it replaces): it is judged as
that file's line, where the path is a tuning file (a sysctl, limits, modprobe.d or systemd
file). `ensure => absent` removes the key and sets nothing. Only a literal is a
value: a number or a quoted string without `${}` (a variable, `$limit`, is the catalog's
to know). A resource whose title is an array, or whose body spans more than MAX_BODY
lines, is not read. This is not a Puppet parser.
"""

from __future__ import annotations

import re

from tunekit.host.confparse import Parsed, placed, sysctl_conf
from tunekit.host.shcommands import written

_OPEN = re.compile(r"""^\s*(sysctl(?:::[a-z_]+)*|file_line)\s*\{\s*(['"])([^'"$]+)\2\s*:(.*)$""")
_VALUE = re.compile(r"""(?:^|[\s,])val(?:ue)?\s*=>\s*('[^']*'|"[^"$]*"|-?[0-9]+)""")
_LINE = re.compile(r"""(?:^|[\s,])line\s*=>\s*('[^']*'|"[^"$]*")""")
_PATH = re.compile(r"""(?:^|[\s,])path\s*=>\s*('[^']*'|"[^"$]*")""")
_ABSENT = re.compile(r"\bensure\s*=>\s*['\"]?absent\b")
MAX_BODY = 50


def _literal(text: str) -> str:
    """A Puppet string's value: a double-quoted one's escapes as Puppet reads them
    (`"4096\t87380\t16777216"` holds tabs), a single-quoted one as written."""
    if text[:1] == '"':
        escapes = {"t": "\t", "n": "\n", "s": " ", "\\": "\\", '"': '"', "$": "$", "'": "'"}
        return re.sub(r"\\(.)", lambda m: escapes.get(m[1], "\\" + m[1]), text[1:-1])
    return text[1:-1] if text[:1] == "'" else text


def puppet(text: str, file: str) -> Parsed:
    out = Parsed("puppet")
    rows = text.splitlines()
    i = 0
    while i < len(rows):
        m = _OPEN.match(rows[i])
        if not m:
            i += 1
            continue
        found: dict[str, tuple[int, str]] = {}
        absent = False
        body = [(i, m[4])] + [(k, rows[k]) for k in range(i + 1, min(len(rows), i + MAX_BODY))]
        end = i
        for k, line in body:
            code = line.split("#", 1)[0]
            absent = absent or bool(_ABSENT.search(code))
            for name, pattern in (("value", _VALUE), ("line", _LINE), ("path", _PATH)):
                if v := pattern.search(code):
                    found[name] = (k, _literal(v[1]))
            end = k
            if "}" in code:
                break
        i = end + 1
        if absent:
            continue
        if m[1] == "file_line":
            if "line" in found and "path" in found:
                k, line = found["line"]
                written(line, found["path"][1], file, k + 1, rows[k], out)
            continue
        if "value" in found:
            k, value = found["value"]
            placed(sysctl_conf(f"{m[3].strip()} = {value}", file), out, k + 1, rows[k])
    return out
