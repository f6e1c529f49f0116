"""The parameters each kernel module takes, as the Linux source declares them.

modprobe.d's `options MODULE name=value` passes name=value to the module when it loads;
a name the module does not declare is dropped with a warning and the module loads
without it (kernel/module/main.c unknown_module_param_cb: "%s: unknown parameter '%s'
ignored"), so such a line does nothing. To tell, lint needs each module's parameters,
and a host has only those of the modules it has loaded (/sys/module/M/parameters).

kernel_modparams.tsv holds them: one line per module, its parameters, and "?" where
the source makes them by a macro or under another prefix (then no line is judged). It is
generated from a kernel tree by this module:

    python -m tunekit.knowledge.kernel_modparams /usr/src/linux-source-6.12 > \\
        tunekit/knowledge/kernel_modparams.tsv

How: every `module_param*(name, ...)` of a .c file (module_param, _named, _array, _string,
_cb, _call, _hw and their _unsafe forms; the first argument is the parameter's name), and
the module the file is built into (the `obj-$(CONFIG_X) += M.o` line of its directory's
Makefile, through `M-y += file.o` for an object made of several files: the same reading
kernel_sysctls.py makes). A file that puts module_param in a #define, or redefines
MODULE_PARAM_PREFIX, marks its module uncertain.
"""

from __future__ import annotations

import functools
import re
import sys
from importlib import resources
from pathlib import Path

from tunekit.knowledge import bounds
from tunekit.knowledge.kernel_sysctls import _not_a_kernel

SOURCE = "kernel_modparams.tsv"
# parameters every module takes (kernel/module/main.c unknown_module_param_cb; the dynamic
# debug one, lib/dynamic_debug.c ddebug_dyndbg_module_param_cb)
EVERY_MODULE = ("async_probe", "dyndbg")
_PARAM = re.compile(
    r"\b(?:module_param(?:_named|_array|_array_named|_string|_string_array|_cb|_call|_hw"
    r"|_hw_array|_hw_named|_unsafe|_named_unsafe|_cb_unsafe)?|device_param_cb|core_param)"
    r"\s*\(\s*([A-Za-z_]\w*)\s*,"
)
_IN_MACRO = re.compile(r"^\s*#\s*define\b[^\n]*(?:\\\n[^\n]*)*\bmodule_param", re.M)
# module_param(name, type, perm) and module_param_named(name, variable, type, perm): the
# variable, and a type whose value lint can compare (a bool or a number)
_PLAIN = re.compile(
    r"\bmodule_param(?:_unsafe)?\s*\(\s*(\w+)\s*,\s*(bool|bint|int|uint|long|ulong|short|ushort"
    r"|byte|hexint)\s*,"
)
_NAMED = re.compile(
    r"\bmodule_param_named(?:_unsafe)?\s*\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(bool|bint|int|uint|long"
    r"|ulong|short|ushort|byte|hexint)\s*,"
)
# a file-scope variable and its literal initialiser (`static bool __read_mostly nested = 1;`)
_VARIABLE = re.compile(
    r"^(?:static\s+)?(?:unsigned\s+)?(?:bool|int|long|short|char|u8|u16|u32|u64|uint|ulong"
    r"|ushort|unsigned)\s+(?:__\w+\s+)*(\w+)(?:\s+__\w+)*\s*=\s*(-?(?:0[xX][0-9a-fA-F]+|\d+)"
    r"|true|false)[uUlL]*\s*;",
    re.M,
)


_UNSIGNED = ("uint", "ulong", "ushort", "byte", "hexint")  # kstrtou*: no '-'


def _c_int(text: str) -> int:
    """A C integer literal: 0x hex, a leading 0 octal, else decimal."""
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text)
    if digits[:2] in ("0x", "0X"):
        return sign * int(digits, 16)
    return sign * int(digits, 8 if len(digits) > 1 and digits[0] == "0" else 10)


def _defaults(text: str) -> dict[str, str]:
    """parameter -> "bool:1", "int:5" or "uint:5": its type (uint for the unsigned ones)
    and what the module starts with, where the source initialises the parameter's
    variable to a literal; "int:?" where it does not (C's 0 is not claimed: an init
    function may set it)."""
    inits = {name: value for name, value in _VARIABLE.findall(text)}
    out = {}
    for param, variable, kind in [(p, p, t) for p, t in _PLAIN.findall(text)] + _NAMED.findall(
        text
    ):
        value = inits.get(variable)
        # bint: an int read by kstrtobool (kernel/params.c param_set_bint), -1 often "auto"
        sort = "bool" if kind in ("bool", "bint") else ("uint" if kind in _UNSIGNED else "int")
        if value is not None and kind == "bint" and value not in ("0", "1", "true", "false"):
            value = None
        if value is None:
            out[param] = f"{sort}:?"  # the type is known, the start is not
            continue
        number = {"true": 1, "false": 0}.get(value)
        number = _c_int(value) if number is None else number
        out[param] = f"bool:{int(bool(number))}" if kind == "bool" else f"{sort}:{number}"
    return out


def scan(tree: Path) -> dict[str, tuple[set[str], bool, dict[str, str]]]:
    """module -> (its parameters, uncertain, their literal defaults)."""
    modules = _modules(tree)
    out: dict[str, tuple[set[str], bool, dict[str, str]]] = {}
    for path in sorted(tree.rglob("*.c")):
        rel = path.relative_to(tree)
        if _not_a_kernel(rel):
            continue
        module = modules.of(path)
        if module is None:
            continue
        text = path.read_text(errors="replace")
        params, uncertain, defaults = out.get(module, (set(), module in modules.uncertain, {}))
        params |= set(_PARAM.findall(text))
        uncertain = uncertain or bool(_IN_MACRO.search(text)) or "MODULE_PARAM_PREFIX" in text
        if not (rel.parts[0] == "arch" and len(rel.parts) > 1 and rel.parts[1] != "x86"):
            # another architecture's module of the same name (s390's kvm has an int
            # `nested`, x86's kvm none) gives it no type: types and defaults are the
            # generic and x86 sources' (a name any architecture declares stays known)
            defaults.update(_defaults(text))
        out[module] = (params, uncertain, defaults)
    return {m: v for m, v in out.items() if v[0] or v[1]}


_OBJ = re.compile(r"^obj-(?:y|m|\$\(CONFIG_\w+\))\s*[+:]?=\s*(.*)$", re.M)
_PARTS = re.compile(r"^([A-Za-z0-9_-]+)-(?:y|m|objs|\$\(CONFIG_\w+\))\s*[+:]?=\s*(.*)$", re.M)


class _Modules:
    """Which module each object is part of, from every Makefile and Kbuild of the tree:
    `obj-$(CONFIG_X) += M.o` makes M a module of that directory, `M-y += a.o sub/b.o` puts
    a.c and sub/b.c in it. A module with a part named through a variable (`$(KVM)/x.o`)
    cannot be followed: it is uncertain."""

    def __init__(self) -> None:
        self.parts: dict[Path, str] = {}  # an object's path without .o -> its module
        self.own: dict[Path, set[str]] = {}  # directory -> the modules it builds
        self.uncertain: set[str] = set()

    def read(self, makefile: Path) -> None:
        text = makefile.read_text(errors="replace").replace("\\\n", " ")
        here = makefile.parent
        mine = {
            w[:-2]
            for m in _OBJ.finditer(text)
            for w in m[1].split()
            if w.endswith(".o") and "/" not in w
        }
        self.own.setdefault(here, set()).update(mine)
        for m in _PARTS.finditer(text):
            if m[1] not in mine:
                continue
            name = m[1].replace("-", "_")
            for word in m[2].split():
                if "$(" in word:
                    self.uncertain.add(name)
                elif word.endswith(".o"):
                    self.parts[(here / word[:-2]).resolve()] = name

    def of(self, source: Path) -> str | None:
        obj = source.with_suffix("").resolve()
        if obj in self.parts:
            return self.parts[obj]
        if source.stem in self.own.get(source.parent, set()):
            return source.stem.replace("-", "_")
        return None


def _modules(tree: Path) -> _Modules:
    out = _Modules()
    for makefile in sorted([*tree.rglob("Makefile"), *tree.rglob("Kbuild")]):
        if not _not_a_kernel(makefile.relative_to(tree)):
            out.read(makefile)
    return out


@functools.lru_cache(maxsize=1)
def known() -> dict[str, tuple[frozenset[str], bool]]:
    """kernel_modparams.tsv, read once, on first use (lint asks of an `options` line)."""
    return {m: (params, uncertain) for m, (params, uncertain, _) in _table().items()}


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, tuple[frozenset[str], bool, dict[str, str]]]:
    out = {}
    text = resources.files("tunekit.knowledge").joinpath(SOURCE).read_text()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            module, params, flag, defaults = (line.split("\t") + ["", "", ""])[:4]
            pairs = dict(d.split("=", 1) for d in defaults.split() if "=" in d)
            out[module] = (frozenset(params.split()), flag == "?", pairs)
    return out


@functools.lru_cache(maxsize=1)
def table_release() -> tuple[int, int] | None:
    """(major, minor) of the kernel tree the table was generated from."""
    first = resources.files("tunekit.knowledge").joinpath(SOURCE).read_text().split("\n", 1)[0]
    m = re.search(r"Linux (\d+)\.(\d+)", first)
    return (int(m[1]), int(m[2])) if m else None


def default(module: str, param: str) -> tuple[str, int] | None:
    """(bool or int, the value) the source starts the parameter with, if a literal."""
    entry = _table().get(module)
    found = entry[2].get(param) if entry else None
    if not found:
        return None
    kind, _, value = found.partition(":")
    return None if value == "?" else (kind, int(value))


def kind(module: str, param: str) -> str | None:
    """bool, int or uint where the source declares the parameter with a plain type."""
    entry = _table().get(module)
    found = entry[2].get(param) if entry else None
    return found.partition(":")[0] if found else None


def as_given(kind: str, text: str) -> int | None:
    """An `options` value as the kernel reads it (kernel/params.c STANDARD_PARAM_DEF):
    kstrtobool for a bool (y, t, 1, on...; n, f, 0, of..., either case), kstrtol or
    kstrtoul base 0 for a number; None where it would not parse (EINVAL)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]  # lib/cmdline.c next_arg: "Don't include quotes in value"
    if kind == "bool":  # lib/kstrtox.c kstrtobool: the first character decides
        low = text.lower()
        if low[:1] in ("y", "t", "1") or low[:2] == "on":
            return 1
        if low[:1] in ("n", "f", "0") or low[:2] == "of":
            return 0
        return None
    if kind == "uint" and text.startswith("-"):
        return None  # kstrtouint
    number = bounds.kernel_integer(text, plus=True)  # "1_6" and "0o10" refused, "010" is 8
    if number is None or not -(2**63) <= number < 2**64:
        return None  # past what any parameter type holds: ERANGE (narrower types not claimed)
    return number


def main(argv: list[str]) -> int:
    from tunekit.knowledge.kernel_sysctls import generator_tree

    found = generator_tree(argv, "tunekit.knowledge.kernel_modparams")
    if found is None:
        return 2
    tree, header = found
    print(header)
    print("# module\tparameters\tuncertain\tdefaults")
    for module, (params, uncertain, defaults) in sorted(scan(tree).items()):
        pairs = " ".join(f"{k}={v}" for k, v in sorted(defaults.items()) if k in params)
        print(f"{module}\t{' '.join(sorted(params))}\t{'?' if uncertain else ''}\t{pairs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
