"""NixOS modules: `boot.kernel.sysctl`, `security.pam.loginLimits` and a service's
`serviceConfig.LimitNOFILE`, read for the lines NixOS writes from them.

NixOS writes every `boot.kernel.sysctl` attribute to /etc/sysctl.d/60-nixos.conf, which
systemd-sysctl applies at boot: `${n}=${if v == false then "0" else toString v}`, and
nothing for null (nixpkgs nixos/modules/config/sysctl.nix). So `"vm.swappiness" = 10;`,
`boot.kernel.sysctl."vm.swappiness" = mkDefault 10;` and `= true;` are read as the
sysctl.d lines `vm.swappiness = 10` and `= 1`, and judged as those. A loginLimits entry
`{ domain = "*"; type = "soft"; item = "nofile"; value = "65536"; }` is a limits.conf line
(NixOS writes them into the PAM limits file), and `LimitNOFILE = 65536;` a unit's limit.

This is not a Nix evaluator: a value computed by an expression (`toString x`, a `let`
name, `mkIf` conditions) is not judged, and every attribute is read as if its `mkIf`
held. The name must be quoted, as the option's documentation requires ("sysctl
parameters names must be enclosed in quotes").
"""

from __future__ import annotations

import re

from tunekit.host.confparse import Parsed, Problem, Setting, limits_conf, sysctl_conf, system_conf

_NAME = r"(?:net|vm|fs|kernel|dev|abi|user|crypto|sunrpc|debug)\.[A-Za-z0-9_.*-]+"
# mkDefault, lib.mkForce, mkOverride 50: a priority, not a value
_PRIORITY = r"(?:(?:lib\.)?(?:mkDefault|mkForce|mkOverride\s+\d+)\s+)?"
_VALUE = r"(-?\d+|\"[^\"\n]*\"|true|false|null)"
_SYSCTL = re.compile(
    r"\"(" + _NAME + r")\"\s*=\s*" + _PRIORITY + r"\(?\s*" + _VALUE + r"\s*\)?\s*;"
)
_LIMIT_NOFILE = re.compile(
    r"\bLimit(NOFILE|NPROC|MEMLOCK|CORE)\s*=\s*" + _PRIORITY + _VALUE + r"\s*;"
)
_ATTR = re.compile(r"\b(domain|type|item|value)\s*=\s*" + _PRIORITY + _VALUE + r"\s*;")
_BLOCK = re.compile(r"\{([^{}]*)\}", re.S)


def nix(text: str, file: str) -> Parsed:
    out = Parsed("nix")
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def line_of(offset: int) -> int:
        lo, hi = 0, len(starts) - 1
        while lo < hi:  # the last line start at or before the offset
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    code = _without_comments(text)
    for m in _SYSCTL.finditer(code):
        value = _value(m[2])
        if value is not None:
            _add(out, sysctl_conf(f"{m[1]} = {value}", file), line_of(m.start()), lines)
    for m in _LIMIT_NOFILE.finditer(code):
        value = _value(m[2])
        if value is not None:
            unit = system_conf(f"[Service]\nLimit{m[1]}={value}", file)
            _add(out, unit, line_of(m.start()), lines)
    if "loginLimits" in code:
        for block in _BLOCK.finditer(code):
            attrs = {a[1]: (_value(a[2]), a.start()) for a in _ATTR.finditer(block[1])}
            if set(attrs) == {"domain", "type", "item", "value"} and all(
                v is not None for v, _ in attrs.values()
            ):
                text_line = " ".join(str(attrs[k][0]) for k in ("domain", "type", "item", "value"))
                at = block.start(1) + attrs["item"][1]
                _add(out, limits_conf(text_line, file), line_of(at), lines)
    return out


def _value(text: str) -> str | None:
    """The text NixOS writes for a value; None for null (not written) or no value."""
    if text == "null":
        return None
    if text in ("true", "false"):
        return "1" if text == "true" else "0"
    return text.strip('"') if text.startswith('"') else text


def _without_comments(text: str) -> str:
    """`# ...` to the end of the line and `/* ... */` blanked (kept as spaces, so every
    offset still points at its line); a # inside a string is kept."""
    out = list(text)
    k, quote = 0, False
    while k < len(text):
        c = text[k]
        if quote:
            if c == "\\":
                k += 2
                continue
            quote = c != '"'
        elif c == '"':
            quote = True
        elif c == "#":
            end = text.find("\n", k)
            end = len(text) if end < 0 else end
            out[k:end] = " " * (end - k)
            k = end
            continue
        elif text.startswith("/*", k):
            end = text.find("*/", k + 2)
            end = len(text) if end < 0 else end + 2
            out[k:end] = ["\n" if ch == "\n" else " " for ch in text[k:end]]
            k = end
            continue
        k += 1
    return "".join(out)


def _add(out: Parsed, parsed: Parsed, line: int, lines: list[str]) -> None:
    items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
    for item in items:
        item.line = line
        item.text = lines[line - 1].strip() if 0 < line <= len(lines) else item.text
    out.settings += parsed.settings
    out.problems += parsed.problems
