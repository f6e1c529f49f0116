"""lint's rules: loaded from knowledge/rules.toml, each checked when it is loaded.

Each rule names keys (glob patterns), a condition over the line and the host (the
language of language.py), a verdict, the kernels it holds for, why, the fix and a source,
and carries a line that triggers it (example) and one that must not (example_ok).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunekit.errors import RulesError, UsageError
from tunekit.host.confparse import Setting
from tunekit.lint.language import _FIELD, compile_expr
from tunekit.lint.report import DEFAULT_FAIL_ON, VERDICTS

RULES_FILE = Path(__file__).resolve().parent.parent / "knowledge" / "rules.toml"
CHECKS = (
    "absent",
    "not-built",
    "removed-since",
    "out-of-range",
    "overridden",
    "zeroed",
    "conflict",
    "quoted",
    "inline-comment",
    "inline-comment-ignored",
    "extra-values-dropped",
    "empty-value",
    "number-too-long",
    "not-assignment",
    "bad-name",
    "not-a-number",
    "octal-value",
    "split-assignment",
    "sysctl-path",
    "echo-fd-redirect",
    "echo-fd-other",
    "echo-fd-shell",
    "heredoc-not-written",
    "not-a-command",
    "bare-name",
    "init-verb-in-shell",
    "never-called",
    "after-failed-task",
    "cmd-replaced",
    "cmd-ignored",
    "dockerfile-unknown-instruction",
    "container-proc-read-only",
    "no-shell",
    "sudo-redirect",
    "bad-limits-line",
    "bad-limit-value",
    "bad-unit-limit",
    "bad-option",
)
KINDS = ("sysctl", "limits", "ulimit", "systemd", "modprobe", "sysfs")


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
    """The rules; what lint knows of each key (scope, unit, module) is the catalogue's."""

    rules: list[Rule]

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
    "example_format example_kernel example_ok_kernel example_container example_profile "
    "example_systemd".split()
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
    stray = set(doc) - {"rule"}
    if stray:
        raise RulesError(f"{path}: unknown table(s) {', '.join(sorted(stray))}: rules only")
    return Knowledge(rules)


@functools.lru_cache(maxsize=1)
def knowledge() -> Knowledge:
    return load_rules()


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
