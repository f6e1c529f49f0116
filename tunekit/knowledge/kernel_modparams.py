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

from tunekit.knowledge.kernel_sysctls import _not_a_kernel

SOURCE = "kernel_modparams.tsv"
# parameters every module takes (kernel/module/main.c unknown_module_param_cb; the dynamic
# debug one, lib/dynamic_debug.c ddebug_dyndbg_module_param_cb)
EVERY_MODULE = ("async_probe", "dyndbg")
_PARAM = re.compile(
    r"\bmodule_param(?:_named|_array|_array_named|_string|_string_array|_cb|_call|_hw"
    r"|_hw_array|_hw_named|_unsafe|_named_unsafe|_cb_unsafe)?\s*\(\s*([A-Za-z_]\w*)\s*,"
)
_IN_MACRO = re.compile(r"^\s*#\s*define\b[^\n]*(?:\\\n[^\n]*)*\bmodule_param", re.M)


def scan(tree: Path) -> dict[str, tuple[set[str], bool]]:
    """module -> (its parameters, uncertain)."""
    modules = _modules(tree)
    out: dict[str, tuple[set[str], bool]] = {}
    for path in sorted(tree.rglob("*.c")):
        rel = path.relative_to(tree)
        if _not_a_kernel(rel):
            continue
        module = modules.of(path)
        if module is None:
            continue
        text = path.read_text(errors="replace")
        params, uncertain = out.get(module, (set(), module in modules.uncertain))
        params |= set(_PARAM.findall(text))
        uncertain = uncertain or bool(_IN_MACRO.search(text)) or "MODULE_PARAM_PREFIX" in text
        out[module] = (params, uncertain)
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
    out = {}
    text = resources.files("tunekit.knowledge").joinpath(SOURCE).read_text()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            module, params, flag = (line.split("\t") + ["", ""])[:3]
            out[module] = (frozenset(params.split()), flag == "?")
    return out


def main(argv: list[str]) -> int:
    from tunekit.knowledge.kernel_sysctls import release_of

    if len(argv) != 1 or not Path(argv[0], "Makefile").is_file():
        print("usage: python -m tunekit.knowledge.kernel_modparams KERNEL_TREE", file=sys.stderr)
        return 2
    tree = Path(argv[0])
    version = release_of(tree)
    if version is None:
        print(f"{tree}/Makefile names no kernel version: not a kernel tree", file=sys.stderr)
        return 2
    origin = f"Debian's {tree.name}" if tree.name.startswith("linux-source-") else tree.name
    print(f"# generated from Linux {version} ({origin}) by python -m {__name__}")
    print("# module\tparameters\tuncertain")
    for module, (params, uncertain) in sorted(scan(tree).items()):
        print(f"{module}\t{' '.join(sorted(params))}\t{'?' if uncertain else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
