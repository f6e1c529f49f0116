"""tunekit lint: the tuning lines a host carries, checked against what the kernel does.

The knowledge is data (rules.toml, next to this file): each rule names keys, a condition
over the line and the host, a verdict, the kernels it holds for, why, the fix and a source.
This module reads the lines (confparse), works out what the host gets at boot (the last
assignment of each key wins), evaluates the rules and adds what only the whole set shows:
keys absent on the running kernel, assignments overridden by a later one, values that fail
a profile.

Conditions are Python expressions restricted to comparisons, arithmetic, names and a few
functions (see NAMES and FUNCTIONS below; docs/lint.md lists them). A condition that cannot
be decided (a value or a fact is unknown) does not fire.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunekit import confparse
from tunekit.confparse import Problem, Setting
from tunekit.errors import UsageError

RULES_FILE = Path(__file__).with_name("rules.toml")
VERDICTS = ("dead", "harmful", "units", "syntax", "no-op", "risky", "conflict", "overridden")
DEFAULT_FAIL_ON = ("harmful", "dead", "syntax", "units")
CHECKS = (
    "absent",
    "overridden",
    "conflict",
    "quoted",
    "inline-comment",
    "empty-value",
    "not-assignment",
    "bad-name",
    "not-a-number",
    "split-assignment",
    "bad-limits-line",
    "bad-limit-value",
    "bad-option",
)
KINDS = ("sysctl", "limits", "ulimit", "systemd", "modprobe")
PAGE = 4096  # tcp_mem and udp_mem count pages of PAGE_SIZE; 4 KiB on x86-64 and arm64 defaults
_DEVICE_KEY = re.compile(r"^net\.ipv[46]\.(conf|neigh)\.(?!all\.|default\.)[^.]+\.")


class RulesError(UsageError):
    """rules.toml (or a rules file given to a test) does not say what it must."""


# --- the restricted expression language ----------------------------------------------------

_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Subscript,
    ast.Tuple,
    ast.List,
    ast.Call,
    ast.IfExp,
    ast.Attribute,
)
NAMES = (
    "key value n values count live live_n absent scope unit format kernel mem_pages "
    "container domain type soft hard root_covered reaches_root winner winner_value "
    "profile want None True False"
).split()
FUNCTIONS = ("boot", "boot_n", "param", "autoload", "builtin", "loaded", "gib", "replace", "chr")
_METHODS = ("split", "strip")  # the only attribute calls: str.split and str.strip


def compile_expr(text: str, where: str):
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise RulesError(f"{where}: {text!r} is not an expression: {err.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise RulesError(f"{where}: {type(node).__name__} is not allowed in {text!r}")
        if isinstance(node, ast.Name) and node.id not in NAMES and node.id not in FUNCTIONS:
            raise RulesError(f"{where}: unknown name {node.id!r} in {text!r}")
        if isinstance(node, ast.Attribute) and node.attr not in _METHODS:
            raise RulesError(f"{where}: .{node.attr} is not allowed in {text!r}")
    return compile(tree, where, "eval")


class Unknown(Exception):
    """A condition needs a fact that is not known: it does not fire."""


def evaluate(code, env: dict) -> Any:
    try:
        return eval(code, {"__builtins__": {}}, env)  # noqa: S307 - nodes checked above
    except (TypeError, IndexError, ValueError, ZeroDivisionError, AttributeError) as err:
        raise Unknown(str(err)) from None


_FIELD = re.compile(r"\{([^{}]+)\}")


def render(template: str, env: dict, where: str) -> str:
    """why/fix/source text with {expression} fields; an unknown field shows as '?'."""

    def one(m: re.Match) -> str:
        try:
            out = evaluate(_compiled(m[1], where), env)
        except Unknown:
            return "?"
        return "?" if out is None else str(out)

    return _FIELD.sub(one, template)


@functools.lru_cache(maxsize=512)
def _compiled(text: str, where: str):
    return compile_expr(text, where)


# --- rules -------------------------------------------------------------------------------


def parse_version(text: str) -> tuple[int, ...]:
    m = re.match(r"^(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a kernel version")
    return (int(m[1]), int(m[2] or 0))


_OPS = {
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
}


@dataclass(frozen=True)
class Rule:
    id: str
    verdict: str
    why: str
    fix: str
    source: str
    keys: tuple[str, ...] = ("*",)
    kinds: tuple[str, ...] = ("sysctl",)
    when: Any = None  # compiled condition, or None for `check` rules
    when_text: str = ""
    check: str = ""
    kernels: tuple[tuple[str, tuple[int, ...]], ...] = ()
    kernels_text: str = ""
    examples: dict = field(default_factory=dict, compare=False, hash=False)

    def matches(self, s: Setting, canonical: str) -> bool:
        if s.kind not in self.kinds:
            return False
        return any(
            fnmatch.fnmatchcase(s.key, k) or fnmatch.fnmatchcase(canonical, k) for k in self.keys
        )

    def holds_on(self, kernel: tuple[int, ...] | None) -> bool:
        return kernel is None or all(_OPS[op](kernel, v) for op, v in self.kernels)


@dataclass
class Knowledge:
    rules: list[Rule]
    keys: dict[str, dict]
    modules: dict[str, str]

    def by_check(self, check: str) -> Rule:
        return next(r for r in self.rules if r.check == check)


def _as_tuple(value, where: str, name: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise RulesError(f"{where}: {name} must be a string or a list of strings")
    return tuple(items)


def _kernels(text: str, where: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.match(r"^(>=|<=|<|>)\s*(\S+)$", part)
        try:
            if not m:
                raise ValueError(part)
            out.append((m[1], parse_version(m[2])))
        except ValueError:
            raise RulesError(
                f"{where}: kernels {text!r}: write e.g. '>=4.12' or '>=4.15,<6.6'"
            ) from None
    return tuple(out)


_FIELDS = set(
    "id kind key when check verdict kernels why fix source example example_ok "
    "example_format example_kernel example_ok_kernel example_container example_profile".split()
)


def _rule(raw: dict, n: int) -> Rule:
    where = f"rules.toml rule {n} ({raw.get('id', '?')})"
    unknown = set(raw) - _FIELDS
    if unknown:
        raise RulesError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for name in ("id", "verdict", "why", "fix", "source", "example", "example_ok"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise RulesError(f"{where}: {name} (text) is required")
    if raw["verdict"] not in VERDICTS:
        raise RulesError(f"{where}: verdict {raw['verdict']!r}; one of {', '.join(VERDICTS)}")
    if "when" in raw and "check" in raw:
        raise RulesError(f"{where}: a rule has a condition (when) or is a check, not both")
    check = raw.get("check", "")
    if check and check not in CHECKS:
        raise RulesError(f"{where}: check {check!r}; one of {', '.join(CHECKS)}")
    kinds = _as_tuple(raw.get("kind", "sysctl"), where, "kind")
    if set(kinds) - set(KINDS):
        raise RulesError(f"{where}: kind must be among {', '.join(KINDS)}")
    for text in (raw["why"], raw["fix"], raw["source"]):
        for m in _FIELD.finditer(text):
            compile_expr(m[1], where)
    examples = {k: v for k, v in raw.items() if k.startswith("example")}
    return Rule(
        id=raw["id"],
        verdict=raw["verdict"],
        why=raw["why"],
        fix=raw["fix"],
        source=raw["source"],
        keys=_as_tuple(raw.get("key", "*"), where, "key"),
        kinds=kinds,
        when=compile_expr(raw.get("when", "True"), where) if not check else None,
        when_text=raw.get("when", ""),
        check=check,
        kernels=_kernels(raw.get("kernels", ""), where),
        kernels_text=raw.get("kernels", ""),
        examples=examples,
    )


def load_rules(path: Path = RULES_FILE) -> Knowledge:
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise RulesError(f"cannot read {path}: {err}") from None
    rules = [_rule(r, i) for i, r in enumerate(doc.get("rule", []), 1)]
    ids = [r.id for r in rules]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise RulesError(f"{path}: rule ids used twice: {', '.join(sorted(dupes))}")
    missing = set(CHECKS) - {r.check for r in rules}
    if missing:
        raise RulesError(f"{path}: no rule gives the text of check(s) {', '.join(sorted(missing))}")
    return Knowledge(rules, doc.get("keys", {}), doc.get("modules", {}))


@functools.lru_cache(maxsize=1)
def knowledge() -> Knowledge:
    return load_rules()


# --- the host the lines are checked against -----------------------------------------------


@dataclass
class Host:
    """What the checks read from the host: the running kernel's values (through `read`,
    which raises FileNotFoundError for an absent key), its release, memory and modules."""

    kernel: tuple[int, ...] | None
    kernel_text: str
    mem_bytes: int | None
    container: bool = False
    read: Any = None  # callable(path under proc/sys) -> text; None: no live values
    live_source: str = "none"
    modules: set[str] | None = None  # loaded or built in (/sys/module)
    proc_modules: set[str] | None = None  # loaded as modules (/proc/modules)
    modules_at_boot: set[str] = field(default_factory=set)
    _cache: dict = field(default_factory=dict)

    def live(self, key: str, know: Knowledge) -> tuple[str, str | None]:
        """('present', text), ('absent', None) or ('unknown', None)."""
        if key in self._cache:
            return self._cache[key]
        out: tuple[str, str | None] = ("unknown", None)
        if self.read is not None and not any(c in key for c in "*?["):
            try:
                out = ("present", " ".join(self.read(key.replace(".", "/")).split()))
            except FileNotFoundError:
                out = ("unknown", None) if self._may_appear(key, know) else ("absent", None)
            except OSError:
                pass
        self._cache[key] = out
        return out

    def _may_appear(self, key: str, know: Knowledge) -> bool:
        """Absent now, but present later: a device's key (udev applies it when the device
        appears) or the key of a module that is not loaded."""
        if _DEVICE_KEY.match(key):
            return True
        for prefix, module in know.modules.items():
            if key.startswith(prefix):
                return self.modules is None or module not in self.modules
        return False

    @classmethod
    def of_root(cls, root: Path, container: bool | None = None, kernel: str | None = None) -> Host:
        from tunekit import host

        has_proc = host._is_dir(root, "proc/sys")
        release = kernel or _read_or_none(root, "proc/sys/kernel/osrelease") or os.uname().release
        mem = host.meminfo(root).get("MemTotal")
        read = (lambda rel: host._read(root, "proc/sys/" + rel, 1 << 16)) if has_proc else None
        try:
            version: tuple[int, ...] | None = parse_version(release)
        except ValueError:  # an image's osrelease is not to be trusted
            version = None
        h = cls(
            kernel=version,
            kernel_text=release.strip()[:64],
            mem_bytes=mem,
            read=read,
            live_source=f"{Path(root) / 'proc/sys'}" if has_proc else "none",
        )
        if has_proc:
            h.modules = host._modules(root)
            try:
                text = host._read(root, "proc/modules")
                h.proc_modules = {line.split()[0] for line in text.splitlines() if line}
            except FileNotFoundError:
                h.proc_modules = set()  # no loadable modules: all of /sys/module is built in
            except OSError:
                h.proc_modules = None
        if container is None and read is not None:
            # A child network namespace has per-namespace net keys but not the global ones.
            container = _exists(read, "net/ipv4/tcp_rmem") and not _exists(read, "net/ipv4/tcp_mem")
        h.container = bool(container)
        return h


def _read_or_none(root: Path, rel: str) -> str | None:
    from tunekit import host

    try:
        return host._read(root, rel).strip() or None
    except OSError:
        return None


def _exists(read, rel: str) -> bool:
    try:
        read(rel)
        return True
    except OSError:
        return False


# --- findings and the report ------------------------------------------------------------------


@dataclass
class LintFinding:
    file: str
    line: int
    key: str
    value: str
    verdict: str
    why: str
    fix: str
    source: str
    rule: str
    text: str = ""


@dataclass
class Change:
    """A key whose value at the next boot differs from the live one."""

    key: str
    live: str
    boot: str
    file: str
    line: int


@dataclass
class LintReport:
    mode: str  # "boot": what applies at next boot; "files": the files named
    files: list[dict]
    findings: list[LintFinding]
    changes: list[Change]
    host: dict
    unreadable: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for f in self.findings:
            out[f.verdict] += 1
        return out

    def failing(self, fail_on: tuple[str, ...]) -> list[LintFinding]:
        return [f for f in self.findings if f.verdict in fail_on]

    def to_dict(self, fail_on: tuple[str, ...]) -> dict:
        from dataclasses import asdict

        return {
            "mode": self.mode,
            "host": self.host,
            "files": self.files,
            "findings": [asdict(f) for f in self.findings],
            "counts": self.counts(),
            "fail_on": list(fail_on),
            "failed": bool(self.failing(fail_on)),
            "changes_at_boot": [asdict(c) for c in self.changes],
            "unreadable": self.unreadable,
        }


# --- the engine --------------------------------------------------------------------------


def canonical(key: str) -> str:
    from tunekit.registry import ALIASES

    return ALIASES.get(key, key)


def _ints(text: str | None) -> list[int] | None:
    if text is None:
        return None
    parts = text.split()
    if parts and all(re.match(r"^-?[0-9]+$", p) for p in parts):
        return [int(p) for p in parts]
    return None


def _limit_value(text: str) -> int | None:
    return int(text) if re.match(r"^-?[0-9]+$", text) else None


def _soft_hard(value: str) -> tuple[int | None, int | None]:
    """systemd's LimitNOFILE=soft[:hard]: one value sets both."""
    soft, _, hard = value.partition(":")
    return _limit_value(soft.strip()), _limit_value((hard or soft).strip())


@dataclass
class _Input:
    path: str
    format: str
    settings: list[Setting]
    problems: list[Problem]


class _Linter:
    def __init__(self, inputs: list[_Input], host: Host, know: Knowledge):
        self.inputs, self.host, self.know = inputs, host, know
        self.findings: list[LintFinding] = []
        self.format_of = {i.path: i.format for i in inputs}
        settings = [s for i in inputs for s in i.settings]
        self.sysctls = [s for s in settings if s.kind == "sysctl"]
        self.effective: dict[str, Setting] = {}
        for s in self.sysctls:
            if not s.problem:
                self.effective[canonical(s.key)] = s
        self.params = {s.key: s.value for s in settings if s.kind == "modprobe"}
        self.limits: dict[tuple[str, str], dict[str, int | None]] = {}
        self.root_items: set[str] = set()
        for s in settings:
            if s.kind != "limits" or s.problem:
                continue
            slot = self.limits.setdefault((s.domain, s.key), {"soft": None, "hard": None})
            for t in ("soft", "hard") if s.type == "-" else (s.type,):
                slot[t] = _limit_value(s.value)
            if s.domain in ("root", "%root", "@root"):
                self.root_items.add(s.key)
        self.settings = settings

    # names and functions the conditions see

    def boot(self, key: str) -> list[int] | None:
        s = self.effective.get(canonical(key))
        if s is not None:
            return s.ints
        status, text = self.host.live(canonical(key), self.know)
        return _ints(text) if status == "present" else None

    def boot_n(self, key: str) -> int | None:
        v = self.boot(key)
        return v[0] if v else None

    def _functions(self) -> dict:
        h = self.host
        return {
            "boot": self.boot,
            "boot_n": self.boot_n,
            "param": lambda name: _limit_value(self.params.get(name, "")),
            "autoload": lambda mod: mod in h.modules_at_boot,
            "builtin": lambda mod: (
                None
                if h.modules is None or h.proc_modules is None
                else mod in h.modules and mod not in h.proc_modules
            ),
            "loaded": lambda mod: None if h.modules is None else mod in h.modules,
            "gib": lambda pages: f"{pages * PAGE / 2**30:.1f}",
            "replace": lambda s, a, b: s.replace(a, b),
            "chr": chr,
        }

    def env(self, s: Setting) -> dict:
        key = canonical(s.key)
        status, live = self.host.live(key, self.know) if s.kind == "sysctl" else ("unknown", None)
        ints, live_ints = s.ints, _ints(live)
        info = self.know.keys.get(key, {})
        env = {
            "key": s.key,
            "value": s.value,
            "values": ints,
            "n": ints[0] if ints else None,
            "count": len(ints) if ints else 0,
            "live": live,
            "live_n": live_ints[0] if live_ints else None,
            "absent": {"present": False, "absent": True}.get(status),
            "scope": info.get("scope"),
            "unit": info.get("unit"),
            "format": self.format_of.get(s.file, ""),
            "kernel": self.host.kernel_text,
            "mem_pages": self.host.mem_bytes // PAGE if self.host.mem_bytes else None,
            "container": self.host.container,
            "domain": s.domain,
            "type": s.type,
            "soft": None,
            "hard": None,
            "root_covered": s.key in self.root_items,
            "reaches_root": s.domain in ("root", "%root", "@root"),
            **self._functions(),
        }
        if s.kind == "limits":
            slot = self.limits.get((s.domain, s.key), {})
            env["soft"], env["hard"] = slot.get("soft"), slot.get("hard")
            env["n"] = _limit_value(s.value)
        elif s.kind == "ulimit":
            env["n"] = _limit_value(s.value)
        elif s.kind == "systemd":
            env["soft"], env["hard"] = _soft_hard(s.value)
        return env

    def add(self, rule: Rule, s: Setting | Problem, env: dict) -> None:
        where = f"rule {rule.id}"
        self.findings.append(
            LintFinding(
                file=s.file,
                line=s.line,
                key=s.key,
                value=s.value,
                verdict=rule.verdict,
                why=render(rule.why, env, where),
                fix=render(rule.fix, env, where),
                source=render(rule.source, env, where),
                rule=rule.id,
                text=s.text.strip(),
            )
        )

    def run_rules(self, s: Setting) -> None:
        env = self.env(s)
        fired = 0
        snapshot = self.format_of.get(s.file) == "sysctl-a"
        for rule in self.know.rules:
            if rule.check or not rule.matches(s, canonical(s.key)):
                continue
            if not rule.holds_on(self.host.kernel) or (snapshot and rule.verdict == "dead"):
                continue
            try:
                if not evaluate(rule.when, env):
                    continue
            except Unknown:
                continue
            self.add(rule, s, env)
            fired += 1
        if s.problem:
            self.add(self.know.by_check(s.problem), s, env)
        elif s.kind == "sysctl" and s.ints is None and _ints(env["live"]) is not None:
            self.add(self.know.by_check("not-a-number"), s, env)
        elif s.kind == "sysctl" and env["absent"] and not fired and not snapshot:
            self.add(self.know.by_check("absent"), s, env)

    def overridden(self) -> None:
        rule = self.know.by_check("overridden")
        groups: dict[tuple, list[Setting]] = {}
        for s in self.settings:
            if self.format_of.get(s.file) == "sysctl-a" or s.kind == "load" or s.problem:
                continue  # a line the tool rejects overrides nothing
            name = canonical(s.key) if s.kind == "sysctl" else s.key
            groups.setdefault((s.kind, s.domain, s.type, name), []).append(s)
        for group in groups.values():
            winner = group[-1]
            for s in group[:-1]:
                env = {**self.env(s), "winner": f"{winner.file}:{winner.line}"}
                env["winner_value"] = winner.value
                self.add(rule, s, env)

    def conflicts(self, profile: str, targets: list) -> None:
        from tunekit import check, values

        rule = self.know.by_check("conflict")
        for t in targets:
            s = self.effective.get(t.key)
            if s is None or t.entry.kind != "sysctl":
                continue
            try:
                ok = check.satisfied(t, values.parse(t.entry, s.value))
            except (ValueError, TypeError, IndexError):
                ok = False
            if not ok:
                env = {**self.env(s), "profile": profile, "want": check.describe(t)}
                self.add(rule, s, env)

    def changes(self) -> list[Change]:
        out = []
        for key, s in self.effective.items():
            status, live = self.host.live(key, self.know)
            if status != "present" or live is None:
                continue
            same = _ints(live) == s.ints if s.ints is not None else live == s.value
            if not same:
                out.append(Change(key, live, s.value, s.file, s.line))
        return out


def lint(
    inputs: list[tuple[str, str, str]],
    host: Host,
    know: Knowledge | None = None,
    profile: tuple[str, list] | None = None,
    mode: str = "files",
) -> LintReport:
    """Lint (path, text, format) inputs, in the order they apply."""
    know = know or knowledge()
    parsed = []
    for path, text, fmt in inputs:
        p = confparse.parse(text, path, fmt)
        parsed.append(_Input(path, fmt, p.settings, p.problems))
    linter = _Linter(parsed, host, know)
    for item in parsed:
        for problem in item.problems:
            s = Setting(
                problem.file, problem.line, "sysctl", problem.key, problem.value, problem.text
            )
            linter.add(know.by_check(problem.check), s, linter.env(s))
        for s in item.settings:
            if s.kind != "load":
                linter.run_rules(s)
    linter.overridden()
    if profile:
        linter.conflicts(*profile)
    order = {p.path: i for i, p in enumerate(parsed)}
    linter.findings.sort(key=lambda f: (order[f.file], f.line, VERDICTS.index(f.verdict)))
    return LintReport(
        mode=mode,
        files=[{"path": p.path, "format": p.format, "settings": len(p.settings)} for p in parsed],
        findings=linter.findings,
        changes=linter.changes(),
        host={
            "kernel": host.kernel_text,
            "memory_bytes": host.mem_bytes,
            "live_values": host.live_source,
            "container": host.container,
        },
    )


def boot_inputs(root: Path) -> tuple[list[tuple[str, str, str]], set[str], list[str]]:
    """What applies at the next boot under `root`: (inputs, modules loaded at boot, errors)."""
    from tunekit import bootset

    found = bootset.collect(root)
    inputs = [("/" + f.path, f.text, f.format) for f in found.files]
    return inputs, found.modules_at_boot, found.unreadable


def read_input(name: str, stdin_text: str | None = None) -> tuple[str, str, str]:
    """A file named on the command line (or '-' for standard input), its format recognised."""
    from tunekit import host

    if name == "-":
        text, shown = stdin_text or "", "<stdin>"
    else:
        try:
            text = host.read_text(Path(name), strict=True)
        except FileNotFoundError:
            raise UsageError(f"{name}: no such file") from None
        except UnicodeDecodeError:
            raise UsageError(f"{name}: not a text file (not UTF-8)") from None
        except OSError as err:
            raise UsageError(f"{name}: cannot read: {err.strerror or err}") from None
        shown = name
    fmt = confparse.detect(text)
    if fmt is None:
        raise UsageError(
            f"{shown}: not a format tunekit lint knows",
            "it reads sysctl.conf / sysctl.d files, `sysctl -a` output, limits.conf, "
            "shell scripts with sysctl -w / ulimit -n lines, systemd system.conf and "
            "modprobe.d files",
        )
    return shown, text, fmt


# --- output ------------------------------------------------------------------------------

LABELS = {
    "dead": "DEAD",
    "harmful": "HARMFUL",
    "units": "UNITS",
    "syntax": "SYNTAX",
    "no-op": "NO-OP",
    "risky": "RISKY",
    "conflict": "CONFLICT",
    "overridden": "OVERRIDDEN",
}


def parse_fail_on(text: str | None) -> tuple[str, ...]:
    if text is None:
        return DEFAULT_FAIL_ON
    words = [w.strip() for w in text.split(",") if w.strip()]
    if words == ["all"]:
        return VERDICTS
    if words == ["none"]:
        return ()
    bad = [w for w in words if w not in VERDICTS]
    if bad or not words:
        raise UsageError(
            f"--fail-on {text!r}: expected verdicts separated by commas, or all, or none",
            f"verdicts: {', '.join(VERDICTS)}",
        )
    return tuple(words)


def render_text(report: LintReport, fail_on: tuple[str, ...]) -> str:
    h = report.host
    what = "what applies at next boot" if report.mode == "boot" else "files"
    lines = [
        f"tunekit lint: {what} ({len(report.files)} file(s), "
        f"{sum(f['settings'] for f in report.files)} setting(s)); kernel {h['kernel']}, "
        f"live values: {h['live_values']}" + (", inside a container" if h["container"] else "")
    ]
    current = None
    for f in report.findings:
        if f.file != current:
            current = f.file
            lines += ["", current]
        mark = "*" if f.verdict in fail_on else " "
        lines.append(f" {mark}{f.line:>4}  {LABELS[f.verdict]:<10} {f.text}")
        lines.append(f"         why: {f.why}")
        lines.append(f"         fix: {f.fix}")
        lines.append(f"         source: {f.source}")
    if not report.findings:
        lines += ["", "no findings"]
    if report.changes:
        lines += [
            "",
            "At the next boot these settings change the live value:"
            if report.mode == "boot"
            else "Applied, these files would change the live value:",
        ]
        for c in report.changes:
            lines.append(f"  {c.key:<40} {c.live} -> {c.boot}   ({c.file}:{c.line})")
    for u in report.unreadable:
        lines.append(f"unreadable: {u}")
    counts = ", ".join(f"{n} {v}" for v, n in report.counts().items() if n)
    failing = len(report.failing(fail_on))
    lines += [
        "",
        f"{counts or 'clean'}; {failing} at or above --fail-on "
        f"({', '.join(fail_on) or 'none'}, marked *)",
    ]
    return "\n".join(lines)


def boot_section(root: Path, profile: str, targets: list) -> tuple[list[LintFinding], list[str]]:
    """check's boot-time section: the findings, on the profile's keys, of what applies at
    the next boot (conflicts with the profile included)."""
    inputs, modules, unreadable = boot_inputs(root)
    machine = Host.of_root(root)
    machine.modules_at_boot = modules
    report = lint(inputs, machine, profile=(profile, targets), mode="boot")
    keys = {t.key for t in targets if t.entry.kind == "sysctl"}
    limits = any(t.entry.kind == "rlimit" for t in targets)
    mine = [
        f
        for f in report.findings
        if canonical(f.key) in keys or (limits and f.key in ("nofile", "DefaultLimitNOFILE"))
    ]
    return mine, unreadable


def render_boot(findings: list[LintFinding], unreadable: list[str]) -> str:
    if not findings:
        return (
            "Boot-time configuration: nothing that applies at the next boot is wrong on these keys."
        )
    lines = ["Boot-time configuration (what applies at the next boot, `tunekit lint` for all):"]
    for f in findings:
        lines.append(f"  {LABELS[f.verdict]:<10} {f.file}:{f.line}  {f.text}")
        lines.append(f"             {f.why}")
    lines += [f"  unreadable: {u}" for u in unreadable]
    return "\n".join(lines)
