"""Puppet manifests (`*.pp`): sysctl resources, read line by line.

The sysctl modules of the Forge declare a resource per key, which they write to
/etc/sysctl.conf or /etc/sysctl.d and apply:

    sysctl { 'net.ipv4.ip_forward': value => '1' }          # augeasproviders_sysctl
    sysctl::value { 'vm.swappiness': value => 10 }          # duritong/sysctl
    sysctl::conf { 'kernel.pid_max': value => 4194304, }    # and other defines

Each is judged as the sysctl.d line it becomes, at the line of its `value =>` (the line
the user edits). `ensure => absent` removes the key and sets nothing. Only a literal is a
value: a number or a quoted string without `${}` (a variable, `$limit`, is the catalog's
to know). A resource whose title is an array, or whose body spans more than MAX_BODY
lines, is not read. This is not a Puppet parser.
"""

from __future__ import annotations

import re

from tunekit.host.confparse import Parsed, Problem, Setting, sysctl_conf

_OPEN = re.compile(r"""^\s*(sysctl(?:::[a-z_]+)*)\s*\{\s*(['"])([^'"$]+)\2\s*:(.*)$""")
_VALUE = re.compile(r"""(?:^|[\s,])val(?:ue)?\s*=>\s*('[^']*'|"[^"$]*"|-?[0-9]+)""")
_ABSENT = re.compile(r"\bensure\s*=>\s*['\"]?absent\b")
MAX_BODY = 50


def _literal(text: str) -> str:
    return text[1:-1] if text[:1] in "'\"" else text


def puppet(text: str, file: str) -> Parsed:
    out = Parsed("puppet")
    rows = text.splitlines()
    i = 0
    while i < len(rows):
        m = _OPEN.match(rows[i])
        if not m:
            i += 1
            continue
        key, value, absent = m[3].strip(), None, False
        body = [(i, m[4])] + [(k, rows[k]) for k in range(i + 1, min(len(rows), i + MAX_BODY))]
        end = i
        for k, line in body:
            code = line.split("#", 1)[0]
            absent = absent or bool(_ABSENT.search(code))
            if v := _VALUE.search(code):
                value = (k, _literal(v[1]))
            end = k
            if "}" in code:
                break
        if value is not None and not absent:
            parsed = sysctl_conf(f"{key} = {value[1]}", file)
            items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
            for item in items:
                item.line, item.text = value[0] + 1, rows[value[0]]
            out.settings += parsed.settings
            out.problems += parsed.problems
        i = end + 1
    return out
