"""Every sysctl the Linux source registers, and the build option it depends on.

A key that this kernel lacks is one of two things: gone from Linux, or a typo (a line that
never does anything anywhere: lint calls it dead), or present in Linux but not in this
build, because an option was off or a module is not loaded (kernel.sysrq without
CONFIG_MAGIC_SYSRQ, kernel.yama.* without CONFIG_SECURITY_YAMA). The second kind does
nothing here and works on a kernel built with it, which is not the same verdict. To tell
them apart lint needs the names Linux has, and /proc/sys of one build cannot give them.

kernel_sysctls.tsv holds them: one line per name, its registering source file and the
option that builds it. It is generated from a kernel tree by this module:

    python -m tunekit.knowledge.kernel_sysctls /usr/src/linux-source-6.12 > \\
        tunekit/knowledge/kernel_sysctls.tsv

How a name is found: every `register_sysctl*("dir", table)` or
`register_net_sysctl*(net, "dir", table)` of a .c file, and the `.procname = "leaf"` of
that file's `struct ctl_table` arrays. A call that names a static table takes its leaves;
a call that registers a copy (`tbl`, kmemdup'ed) takes the file's other tables. Paths built
at run time ("net/ipv4/conf/%s") are left out: lint knows device keys by their shape. The
option is the innermost `#ifdef CONFIG_X` / `IS_ENABLED(CONFIG_X)` around the leaf, else
the `obj-$(CONFIG_X)` line of the directory's Makefile that builds the file.

Each entry of the table also says, where the source says it plainly: the value its
variable is initialised to (and where), its file mode (0644; "0444+" where code changes it
at boot, as the NMI watchdog's is made writable only where the hardware has one), the
bounds its handler enforces (`extra1`/`extra2` of a *_minmax handler: SYSCTL_ONE and the
like, or a constant variable), and whether its handler takes a write and drops it
(`return write ? 0 : ...`, as random.c's write_wakeup_threshold).
"""

from __future__ import annotations

import functools
import re
import sys
from importlib import resources
from pathlib import Path
from typing import NamedTuple


class Registered(NamedTuple):
    """One sysctl as the source registers it; "" where the source does not say plainly."""

    source: str  # the file that registers it
    option: str = ""  # the CONFIG_ option that builds it ("": built wherever its file is)
    init: str = ""  # the value the source initialises its variable to
    defined: str = ""  # the file that does
    mode: str = ""  # the table's file mode, "0444+" where code changes it at boot
    low: str = ""  # the bounds a *_minmax handler enforces
    high: str = ""
    ignored: str = ""  # "1": the handler takes a write and drops it
    module: str = ""  # the module its file is built into, when its option is m
    handler: str = ""  # its proc_handler (proc_dointvec_minmax, ...)


# sysctl_vals[] and sysctl_long_vals[] (kernel/sysctl.c) behind include/linux/sysctl.h
_SYSCTL_VALS = {
    "SYSCTL_ZERO": 0, "SYSCTL_ONE": 1, "SYSCTL_TWO": 2, "SYSCTL_THREE": 3, "SYSCTL_FOUR": 4,
    "SYSCTL_ONE_HUNDRED": 100, "SYSCTL_TWO_HUNDRED": 200, "SYSCTL_ONE_THOUSAND": 1000,
    "SYSCTL_THREE_THOUSAND": 3000, "SYSCTL_INT_MAX": 2**31 - 1, "SYSCTL_MAXOLDUID": 65535,
    "SYSCTL_NEG_ONE": -1, "SYSCTL_LONG_ZERO": 0, "SYSCTL_LONG_ONE": 1,
    "SYSCTL_LONG_MAX": 2**63 - 1, "SYSCTL_U8_MAX": 255,
}  # fmt: skip
_MODE = re.compile(r"\.mode\s*=\s*(0[0-7]+)")
_MODE_SET = re.compile(r"\.mode\s*=\s*0[0-7]+\s*;")  # code that changes a mode at boot
_HANDLER = re.compile(r"\.proc_handler\s*=\s*&?(\w+)")
_EXTRA = re.compile(r"\.extra([12])\s*=\s*(?:\(\s*void\s*\*\s*\)\s*)?(&?)(\w+)")

_TABLE = re.compile(r"struct\s+ctl_table\s+(\w+)\s*\[\s*\w*\s*\]\s*=\s*\{", re.S)
_PROCNAME = re.compile(r'\.procname\s*=\s*"([^"%]+)"')
_REGISTER = re.compile(
    r"register_(?:net_)?sysctl(?:_sz|_init|_table)?\s*\(\s*(?:[^,()\"]+,\s*)?"
    r"(?:\"([^\"]+)\"|([A-Z][A-Z0-9_]+))\s*,\s*&?(\w+)"
)
# A macro that builds an entry from its argument: #define UCOUNT_ENTRY(name) { .procname = name, ...
_ENTRY_MACRO = re.compile(
    r"^#define\s+(\w+)\((\w+)\)[^\n]*(?:\\\n[^\n]*)*?\.procname\s*=\s*\2\b", re.M
)
_DEFINE = re.compile(r'^#define\s+([A-Z][A-Z0-9_]+)\s+"([^"]+)"', re.M)
_IF = re.compile(r"^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)$")
_CONFIG = re.compile(r"CONFIG_(\w+)")
SOURCE = "kernel_sysctls.tsv"
# Options around every sysctl table (no /proc/sys without them): they say nothing of a key.
_EVERYWHERE = {"SYSCTL", "PROC_SYSCTL", "PROC_FS", "NET", "SYSFS"}


def _tables(text: str) -> dict[str, tuple[int, int]]:
    """Each static ctl_table array of a file: its name -> the span of its body."""
    out = {}
    for m in _TABLE.finditer(text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out[m.group(1)] = (m.end(), i)
    return out


def _config_at(lines: list[str], lineno: int) -> str:
    """The innermost CONFIG_ symbol of the #if blocks open at a line ("" if none)."""
    stack: list[str] = []
    for line in lines[:lineno]:
        m = _IF.match(line)
        if not m:
            continue
        kind, rest = m.groups()
        if kind in ("if", "ifdef", "ifndef"):
            found = _CONFIG.search(rest)
            stack.append(found.group(1) if found and kind != "ifndef" else "")
        elif kind in ("elif", "else") and stack:
            stack[-1] = ""
        elif kind == "endif" and stack:
            stack.pop()
    return next((c for c in reversed(stack) if c and c not in _EVERYWHERE), "")


def _makefile_config(path: Path) -> tuple[str, str]:
    """(the option of the Makefile line that builds this file, directly or as part of an
    object made of several files; the module that object is when the option is m)."""
    try:
        make = (path.parent / "Makefile").read_text(errors="replace").replace("\\\n", " ")
    except OSError:
        return "", ""
    obj = path.stem + ".o"
    for _ in range(3):  # foo.o in bar-y/bar-objs, bar.o in obj-$(CONFIG_X)
        m = re.search(rf"obj-\$\(CONFIG_(\w+)\)\s*[+:]?=[^\n]*\b{re.escape(obj)}", make)
        if m:
            return m.group(1), obj.removesuffix(".o").replace("-", "_")
        m = re.search(
            rf"^(\w+?)-(?:y|objs|\$\(CONFIG_\w+\))\s*[+:]?=[^\n]*\b{re.escape(obj)}", make, re.M
        )
        if not m:
            return "", ""
        obj = m.group(1) + ".o"
    return "", ""


def scan(tree: Path) -> dict[str, Registered]:
    """Every name the tree registers, with what its source says of it."""
    files = {}
    defines: dict[str, str] = {}  # MPTCP_SYSCTL_PATH "net/mptcp", from any header
    inits = _Initialisers()
    for path in sorted(tree.rglob("*.[ch]")):
        if _not_a_kernel(path.relative_to(tree)):
            continue
        text = path.read_text(errors="replace")
        defines.update(_DEFINE.findall(text))
        inits.read(path, text)
        if path.suffix == ".c" and "sysctl" in text:
            files[path] = text
    every: dict[str, tuple[Path, tuple[int, int]]] = {}  # table name -> file, span
    for path, text in files.items():
        for name, span in _tables(text).items():
            every.setdefault(name, (path, span))
    handlers = _Handlers(files)
    out: dict[str, Registered] = {}
    for path, text in files.items():
        regs = []
        for literal, macro, table in _REGISTER.findall(text):
            directory = literal or defines.get(macro, "")
            if directory and "%" not in directory:
                regs.append((directory, table))
        tables = _tables(text)
        direct = {t for _, t in regs if t in tables}
        for directory, table in regs:
            for where, (start, end) in _spans(path, table, tables, direct, every):
                source = files[where]
                lines = source.splitlines()
                leaves = _PROCNAME
                macros = _ENTRY_MACRO.findall(source)
                if macros:  # UCOUNT_ENTRY("max_user_namespaces") too
                    names = "|".join(re.escape(name) for name, _ in macros)
                    leaves = re.compile(rf'{_PROCNAME.pattern}|\b(?:{names})\(\s*"([^"%]+)"')
                for m in leaves.finditer(source, start, end):
                    lineno = source.count("\n", 0, m.start()) + 1
                    # the options that must be on (the file's, and an #ifdef around the entry)
                    built, module = _makefile_config(where)
                    wanted = dict.fromkeys(c for c in (_config_at(lines, lineno), built) if c)
                    config = " ".join(c for c in wanted if c not in _EVERYWHERE)
                    leaf = next(g for g in m.groups() if g)
                    name = directory.strip("/").replace("/", ".") + "." + leaf
                    entry = source[source.rfind("{", start, m.start()) : source.find("}", m.end())]
                    facts = _entry(entry, source, where, inits, handlers)
                    rel = str(where.relative_to(tree))
                    defined = facts.pop("defined")
                    if isinstance(defined, Path):
                        facts["defined"] = str(defined.relative_to(tree))
                    out.setdefault(name, Registered(rel, config, module=module, **facts))
    return out


def _entry(entry: str, source: str, where: Path, inits, handlers) -> dict:
    """What one table entry says: its variable's initial value, mode, bounds, handler."""
    data = _DATA.search(entry)
    init, defined = inits.value(data[1], where) if data else ("", None)
    mode = _MODE.search(entry)
    handler = _HANDLER.search(entry)
    bounded, ignored = handlers.facts(handler[1]) if handler else (False, False)
    bound = {"1": "", "2": ""}
    for which, ref, name in _EXTRA.findall(entry) if bounded else ():
        if name in _SYSCTL_VALS:
            bound[which] = str(_SYSCTL_VALS[name])
        elif ref and (name, where) in inits.consts:  # &a_const; a variable may be sized at boot
            bound[which] = inits.value(name, where)[0]
    return {
        "init": init,
        "defined": defined if init else "",
        "mode": (mode[1] + ("+" if _MODE_SET.search(source) else "")) if mode else "",
        "low": bound["1"],
        "high": bound["2"],
        "ignored": "1" if ignored else "",
        "handler": handler[1] if handler else "",
    }


def _only_a_bound(name: str, text: str) -> bool:
    """A file-local variable the file uses only as a table's bound (`.extra1 = &name`) and
    never assigns: as constant as a const one (`static int tcp_min_rcvbuf = 4096;`; only
    where it starts as a literal number: `2 * USEC_PER_SEC / HZ` depends on the build)."""
    uses = len(re.findall(rf"\b{re.escape(name)}\b", text))
    bounds = len(
        re.findall(rf"\.extra[12]\s*=\s*(?:\(\s*void\s*\*\s*\)\s*)?&{re.escape(name)}\b", text)
    )
    return bounds > 0 and uses == bounds + 1


class _Handlers:
    """What a table entry's handler does with a write: enforce extra1/extra2 (a *_minmax
    handler, or one whose body calls one), or drop it (`return write ? 0 : ...`)."""

    def __init__(self, files: dict[Path, str]):
        self.files = files
        self.cache: dict[str, tuple[bool, bool]] = {}

    def facts(self, name: str) -> tuple[bool, bool]:
        if name not in self.cache:
            body = self._body(name)
            bounded = name.endswith("_minmax") or "_minmax(" in body
            self.cache[name] = (bounded, bool(re.search(r"return\s+write\s*\?\s*0\s*:", body)))
        return self.cache[name]

    def _body(self, name: str) -> str:
        head = re.compile(rf"^(?:static\s+)?int\s+{re.escape(name)}\s*\(", re.M)
        for text in self.files.values():
            m = head.search(text)
            if m:
                start = text.find("{", m.end())
                end = text.find("\n}", start)
                return text[start:end] if start >= 0 and end >= 0 else ""
        return ""


_DATA = re.compile(r"\.data\s*=\s*&(\w+)\s*,")  # a variable of its own, not &init_net.x
# a variable at file scope: `int sysctl_vfs_cache_pressure __read_mostly = 100;`,
# `unsigned int __read_mostly sysctl_sched_autogroup_enabled = 1;` (the attribute before
# the name), or `int node_reclaim_mode __read_mostly;` (C gives it 0)
_VARIABLE = re.compile(
    r"^(?:static\s+)?(const\s+)?(?:unsigned\s+)?(?:int|long|long long|short|u8|u16|u32|u64"
    r"|s32|s64|bool|size_t|unsigned|ulong)\s+(?:__\w+\s+)*(\w+)(?:\s+__\w+)*\s*(?:=\s*([^;{]+))?;",
    re.M,
)
_NUMBER_DEFINE = re.compile(
    r"^#define\s+([A-Z_][A-Z0-9_]*)\s+([-(0-9][^/\n]*?)\s*(?:/\*.*)?$", re.M
)


# `= CONFIG_PANIC_TIMEOUT`, `= IS_ENABLED(CONFIG_X)`, `= !IS_BUILTIN(CONFIG_X)`
_CONFIG_INIT = re.compile(r"^(!?)(?:IS_(ENABLED|BUILTIN|MODULE)\(\s*)?(CONFIG_\w+)\s*\)?$")


def config_value(init: str, options: dict[str, str] | None) -> str | None:
    """The number a `cfg:` initial value stands for under these build options (CONFIG_X ->
    y, m or a value, as /proc/config.gz says); None where they do not say. IS_ENABLED is
    y or m, IS_BUILTIN y, IS_MODULE m; an option that is not set is 0 for those."""
    m = re.fullmatch(r"cfg:(!?)(value|ENABLED|BUILTIN|MODULE):CONFIG_(\w+)", init)
    if m is None or options is None:
        return None
    got = options.get(m[3])
    if m[2] == "value":
        return got if got is not None and re.fullmatch(r"-?\d+", got) else None
    on = {"ENABLED": ("y", "m"), "BUILTIN": ("y",), "MODULE": ("m",)}[m[2]]
    value = got in on
    return str(int(not value if m[1] else value))


class _Initialisers:
    """What the source initialises each file-scope variable to, as a number where the
    expression is one (arithmetic on literals and #defined numbers). Whether the kernel
    keeps it is another matter (an init function may size it from RAM): lint believes it
    only where the running kernel holds the same value."""

    def __init__(self) -> None:
        self.variables: dict[str, dict[Path, str]] = {}
        self.defines: dict[str, str] = {}
        self.consts: set[tuple[str, Path]] = set()  # declared const: no init code sizes them

    def read(self, path: Path, text: str) -> None:
        for name, expr in _NUMBER_DEFINE.findall(text):
            self.defines.setdefault(name, expr)
        if path.suffix == ".c":
            for m in _VARIABLE.finditer(text):
                const, name, expr = m.groups()
                self.variables.setdefault(name, {})[path] = (expr or "").strip() or "0"
                literal = re.fullmatch(r"-?(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*", (expr or "").strip())
                if const or (m[0].startswith("static") and literal and _only_a_bound(name, text)):
                    self.consts.add((name, path))

    def value(self, variable: str, where: Path) -> tuple[str, Path | None]:
        """(the initial value, the file that defines the variable), or ("", None)."""
        found = self.variables.get(variable, {})
        if where in found:
            return self.evaluate(found[where]), where
        values = {(self.evaluate(e), path) for path, e in found.items()}
        return values.pop() if len(values) == 1 else ("", None)

    def evaluate(self, expr: str, depth: int = 0) -> str:
        import ast
        import operator

        ops = {
            ast.Add: operator.add,
            ast.Sub: operator.sub,
            ast.Mult: operator.mul,
            ast.FloorDiv: operator.floordiv,
            ast.Div: operator.floordiv,
            ast.LShift: operator.lshift,
            ast.RShift: operator.rshift,
            ast.BitOr: operator.or_,
        }

        def num(node) -> int:
            if isinstance(node, ast.Constant) and isinstance(node.value, int):
                return node.value
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                return -num(node.operand)
            if isinstance(node, ast.BinOp) and type(node.op) in ops:
                return ops[type(node.op)](num(node.left), num(node.right))
            if isinstance(node, ast.Name) and node.id in self.defines and depth < 4:
                got = self.evaluate(self.defines[node.id], depth + 1)
                if got:
                    return int(got)
            raise ValueError(expr)

        if m := _CONFIG_INIT.match(expr.strip()):
            # a build option: kept by name, read from the running kernel's config by lint
            return f"cfg:{m[1]}{m[2] or 'value'}:{m[3]}"
        text = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr.strip())
        try:
            value = num(ast.parse(text.replace("/", "//"), mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError, RecursionError, OverflowError):
            return ""
        return str(value) if abs(value) < 1 << 64 else ""


def _not_a_kernel(rel: Path) -> bool:
    """samples/ and tools/ are not built into a kernel; lib/test_sysctl.c is a self-test
    and kernel/sysctl-test.c a KUnit test (debug.test_sysctl.*, foo.*): no host tunes them."""
    return (
        rel.parts[0] in ("samples", "tools", "Documentation")
        or rel.name.startswith("test_")
        or rel.stem.endswith("-test")
    )


def _spans(path, table, tables, direct, every):
    """Where the leaves of a registered table are: the static table it names; else a
    copy's template (ipv6_route_table <- route.c's ipv6_route_table_template); else the
    file's tables that no call names directly."""
    if table in tables:
        return [(path, tables[table])]
    for name in (table + "_template", table.removesuffix("_table") + "_table_template"):
        if name in every:
            return [every[name]]
    return [(path, span) for name, span in tables.items() if name not in direct]


@functools.cache
def known() -> dict[str, Registered]:
    """kernel_sysctls.tsv, read once, on first use (lint asks of a key that is absent, or
    that no catalogue entry knows)."""
    out = {}
    text = resources.files("tunekit.knowledge").joinpath(SOURCE).read_text()
    width = len(Registered._fields)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, *fields = line.split("\t")
            out[name] = Registered(*(fields + [""] * width)[:width])
    return out


def release() -> str:
    """The kernel the table was generated from, as its first line names it."""
    first = resources.files("tunekit.knowledge").joinpath(SOURCE).read_text().split("\n", 1)[0]
    # "Linux 6.12.118 (Debian's linux-source-6.12)": Debian's patches add a few keys
    return first.removeprefix("# generated from ").split(" by ")[0].strip()


def release_of(tree: Path) -> str | None:
    """The release a kernel tree's Makefile names (6.12.118), or None."""
    head = (tree / "Makefile").read_text(errors="replace")
    parts = [re.search(rf"^{k} = (\d+)", head, re.M) for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL")]
    return ".".join(m.group(1) for m in parts if m) if all(parts) else None


def generator_tree(argv: list[str], module: str) -> tuple[Path, str] | None:
    """A generator's kernel tree and the header line of what it prints, or None (and why,
    on stderr) when argv names no kernel tree."""
    if len(argv) != 1 or not Path(argv[0], "Makefile").is_file():
        print(f"usage: python -m {module} KERNEL_TREE", file=sys.stderr)
        return None
    tree = Path(argv[0])
    version = release_of(tree)
    if version is None:
        print(f"{tree}/Makefile names no kernel version: not a kernel tree", file=sys.stderr)
        return None
    origin = f"Debian's {tree.name}" if tree.name.startswith("linux-source-") else tree.name
    return tree, f"# generated from Linux {version} ({origin}) by python -m {module}"


def main(argv: list[str]) -> int:
    found = generator_tree(argv, "tunekit.knowledge.kernel_sysctls")
    if found is None:
        return 2
    tree, header = found
    print(header)
    print("# name\t" + "\t".join(Registered._fields))
    for name, entry in sorted(scan(tree).items()):
        print("\t".join((name, *entry)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
