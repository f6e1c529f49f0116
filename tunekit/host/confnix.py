"""NixOS modules: `boot.kernel.sysctl`, `security.pam.loginLimits` and a service's
`serviceConfig.LimitNOFILE`, read for the lines NixOS writes from them.

NixOS writes every `boot.kernel.sysctl` attribute to /etc/sysctl.d/60-nixos.conf, which
systemd-sysctl applies at boot: `${n}=${if v == false then "0" else toString v}`, and
nothing for null (nixpkgs nixos/modules/config/sysctl.nix). So `"vm.swappiness" = 10;`,
`boot.kernel.sysctl."vm.swappiness" = mkDefault 10;` and `= true;` are read as the
sysctl.d lines `vm.swappiness = 10` and `= 1`, and judged as those. A loginLimits entry
`{ domain = "*"; type = "soft"; item = "nofile"; value = "65536"; }` is a limits.conf line
(NixOS writes them into the PAM limits file), and `LimitNOFILE = 65536;` under a
`serviceConfig` a unit's limit.

Which definition is in force is NixOS's merge, not file order (the option's
`mergeOneOption loc (filterOverrides defs)`): the strongest priority wins (mkForce 50, a
plain definition 100, mkDefault 1000, mkOverride N), and net.core.rmem_max takes the
largest of its definitions. Each setting carries its priority (Setting.priority) and the
engine puts the strongest last.

The file is read as Nix's lexer reads it (comments, "..." and ''...'' strings with their
escapes and ${...}), then as attribute paths: only a `boot.kernel.sysctl` of the module
itself (`config.` allowed in front) counts, not one inside a container's or a VM
variant's configuration, nor text in a string. This is not a Nix evaluator: a value an
expression computes (`toString x`, `"${n}"`, a `let` name) is not judged, and every
attribute is read as if its `mkIf` held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunekit.host.confparse import Parsed, Problem, Setting, limits_conf, sysctl_conf, system_conf

PRIORITY = {"mkForce": 50, "mkDefault": 1000, "mkImageMediaOverride": 60, "mkVMOverride": 10}
PLAIN = 100  # lib/modules.nix defaultOverridePriority
MAX_TOKENS = 2_000_000


@dataclass
class _Token:
    kind: str  # "str" (a "..." string), "istr" (''...''), "id", "num", "op"
    text: str
    line: int
    interpolated: bool = False  # a string with ${...}: only the evaluation knows it


_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_'\-]*")
_NUM = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def tokens(text: str) -> list[_Token]:
    """Nix's tokens, comments dropped; one pass, linear in the text."""
    out: list[_Token] = []
    k, line, n = 0, 1, len(text)
    while k < n and len(out) < MAX_TOKENS:
        c = text[k]
        if c == "\n":
            line += 1
            k += 1
        elif c.isspace():
            k += 1
        elif c == "#":
            end = text.find("\n", k)
            k = n if end < 0 else end
        elif text.startswith("/*", k):
            end = text.find("*/", k + 2)
            end = n if end < 0 else end + 2
            line += text.count("\n", k, end)
            k = end
        elif c == '"':
            k, line = _string(text, k, line, out)
        elif text.startswith("''", k):
            k, line = _indented(text, k, line, out)
        elif m := _NUM.match(text, k):
            out.append(_Token("num", m[0], line))
            k = m.end()
        elif m := _ID.match(text, k):
            out.append(_Token("id", m[0], line))
            k = m.end()
        else:
            out.append(_Token("op", c, line))
            k += 1
    return out


def _string(text: str, k: int, line: int, out: list[_Token]) -> tuple[int, int]:
    start, k, parts, interp = line, k + 1, [], False
    while k < len(text) and text[k] != '"':
        c = text[k]
        if c == "\\" and k + 1 < len(text):
            parts.append(text[k + 1])
            line += text[k + 1] == "\n"
            k += 2
            continue
        if text.startswith("${", k):
            interp = True
            k, line = _skip_braces(text, k + 2, line)
            continue
        line += c == "\n"
        parts.append(c)
        k += 1
    out.append(_Token("str", "".join(parts), start, interp))
    return k + 1, line


def _indented(text: str, k: int, line: int, out: list[_Token]) -> tuple[int, int]:
    """''...'': escapes ''' ''$ ''\\X; ends at a '' not followed by ', $ or \\."""
    start, k = line, k + 2
    while k < len(text):
        if text.startswith("''", k):
            nxt = text[k + 2 : k + 3]
            if nxt in ("'", "$"):
                k += 3
                continue
            if nxt == "\\":
                line += text[k + 3 : k + 4] == "\n"
                k += 4
                continue
            k += 2
            break
        if text.startswith("${", k):
            k, line = _skip_braces(text, k + 2, line)
            continue
        line += text[k] == "\n"
        k += 1
    out.append(_Token("istr", "", start, True))
    return k, line


def _skip_braces(text: str, k: int, line: int) -> tuple[int, int]:
    """Past the } that closes an interpolation (nested braces and strings counted)."""
    depth = 1
    while k < len(text) and depth:
        c = text[k]
        if c == '"':
            sink: list[_Token] = []
            k, line = _string(text, k, line, sink)
            continue
        depth += (c == "{") - (c == "}")
        line += c == "\n"
        k += 1
    return k, line


def nix(text: str, file: str) -> Parsed:
    out = Parsed("nix")
    lines = text.split("\n")
    toks = tokens(text)
    if len(toks) >= MAX_TOKENS:
        out.unread.append(f"stopped after {MAX_TOKENS:,} tokens; what follows was not checked")
    _Reader(toks, file, lines, out).run()
    return out


class _Reader:
    """Attribute paths through nested sets: `a.b = { c = { "d" = v; }; }` is a.b.c."d"."""

    def __init__(self, toks: list[_Token], file: str, lines: list[str], out: Parsed):
        self.t, self.file, self.lines, self.out = toks, file, lines, out
        self.entry: dict[str, tuple[str, int]] = {}  # a loginLimits entry being read

    def run(self) -> None:
        stack: list[tuple[str, ...]] = []  # the paths of the brackets we are in
        path: tuple[str, ...] = ()  # the path of the set we are in
        pending: tuple[str, ...] | None = None  # the path of the assignment being read
        i = 0
        while i < len(self.t):
            tok = self.t[i]
            if tok.kind == "op" and tok.text in "{[(":
                # inside `x = {`, `x = mkMerge [`, `x = mkIf c (`: still the option x
                stack.append(path)
                path = pending if pending is not None else path
                pending = None if tok.text == "{" else pending
                i += 1
                continue
            if tok.kind == "op" and tok.text in "}])":
                if tok.text == "}" and path == LOGIN_LIMITS:
                    self._limits_entry()
                closed = path
                if stack:
                    path = stack.pop()
                nxt = self.t[i + 1] if i + 1 < len(self.t) else None
                if tok.text == "}" and nxt is not None and nxt.text == ":":
                    pending = closed  # `{ ... }: { body }`: the body is the same option's
                    i += 2
                    continue
                i += 1
                continue
            if tok.kind == "op" and tok.text == ";":
                pending = None
                i += 1
                continue
            attr, j = self._attrpath(i)
            if attr and j < len(self.t) and self.t[j].text == "=" and self.t[j].kind == "op":
                full = path + attr
                if self._value(full, j + 1):
                    pending = None
                else:
                    pending = full
                i = j + 1
                continue
            i += 1

    def _attrpath(self, i: int) -> tuple[tuple[str, ...], int]:
        """An attribute path (a.b."c") starting at token i, and the token after it."""
        parts: list[str] = []
        while i < len(self.t):
            tok = self.t[i]
            if tok.kind == "id" or (tok.kind == "str" and not tok.interpolated):
                parts.append(tok.text)
                i += 1
                if i < len(self.t) and self.t[i].kind == "op" and self.t[i].text == ".":
                    i += 1
                    continue
            break
        return tuple(parts), i

    def _value(self, full: tuple[str, ...], j: int) -> bool:
        """A leaf we read (True), or a value the walk goes into (False)."""
        where = _where(full)
        if where is None:
            return False
        priority, j = _priority(self.t, j)
        if j >= len(self.t):
            return False
        tok = self.t[j]
        end = self.t[j + 1] if j + 1 < len(self.t) else None
        if end is None or end.kind != "op" or end.text != ";":
            return False  # an expression (a set, a call, toString x): not a leaf
        value = _text(tok)
        if value is None:
            return True  # null, an interpolation, a name: nothing NixOS writes that is known
        kind, name = where
        if kind == "login":
            self.entry[name] = (value, tok.line)
            return True
        if kind == "sysctl":
            parsed = sysctl_conf(f"{name} = {value}", self.file)
            for s in parsed.settings:
                s.priority = priority
        elif kind == "manager":
            parsed = system_conf(f"[Manager]\n{name}={value}", self.file)
        else:
            parsed = system_conf(f"[Service]\nLimit{name}={value}", self.file)
        self._add(parsed, self.t[j].line)
        return True

    def _add(self, parsed: Parsed, line: int) -> None:
        items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
        for item in items:
            item.line = line
            item.text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else item.text
        self.out.settings += parsed.settings
        self.out.problems += parsed.problems

    def _limits_entry(self) -> None:
        """{ domain; type; item; value; } of security.pam.loginLimits: a limits.conf line."""
        entry, self.entry = self.entry, {}
        if set(entry) == {"domain", "type", "item", "value"}:
            words = " ".join(entry[k][0] for k in ("domain", "type", "item", "value"))
            self._add(limits_conf(words, self.file), entry["value"][1])  # the value's line


LOGIN_LIMITS = ("security", "pam", "loginLimits")
MANAGER_NOFILE = ("systemd", "settings", "Manager", "DefaultLimitNOFILE")


def _where(full: tuple[str, ...]) -> tuple[str, str] | None:
    """("sysctl", name) for boot.kernel.sysctl.NAME of the module itself; ("unit", item)
    for ...serviceConfig.LimitITEM; ("login", field) in a loginLimits entry; else None."""
    path = full[1:] if full[:1] == ("config",) else full
    if len(path) == 4 and path[:3] == ("boot", "kernel", "sysctl"):
        return "sysctl", path[3]
    if path in (MANAGER_NOFILE, ("systemd", "extraConfig", "DefaultLimitNOFILE")):
        return "manager", "DefaultLimitNOFILE"  # systemd.settings.Manager (system.conf)
    if len(path) == 4 and path[:3] == LOGIN_LIMITS:
        if path[3] in ("domain", "type", "item", "value"):
            return "login", path[3]
    if len(path) >= 2 and path[-2] == "serviceConfig" and path[-1].startswith("Limit"):
        item = path[-1][len("Limit") :]
        if item in ("NOFILE", "NPROC", "MEMLOCK", "CORE") and path[0] == "systemd":
            return "unit", item
    return None


def _priority(toks: list[_Token], j: int) -> tuple[int, int]:
    """mkForce, lib.mkDefault, mkOverride N before a value: (its priority, the value's token)."""
    if j + 2 < len(toks) and toks[j].text == "lib" and toks[j + 1].text == ".":
        j += 2
    name = toks[j].text if j < len(toks) else ""
    if name in PRIORITY:
        return PRIORITY[name], j + 1
    if name == "mkOverride" and j + 1 < len(toks) and toks[j + 1].kind == "num":
        return int(float(toks[j + 1].text)), j + 2
    return PLAIN, j


def _text(tok: _Token) -> str | None:
    """What NixOS writes for a value token; None where it is not a literal."""
    if tok.kind == "num":
        return str(int(tok.text)) if "." not in tok.text else tok.text
    if tok.kind == "str" and not tok.interpolated:
        return tok.text
    if tok.kind == "id" and tok.text in ("true", "false"):
        return "1" if tok.text == "true" else "0"
    return None
