"""The condition language of lint's rules: Python expressions restricted to comparisons,
arithmetic, names and a few functions (NAMES and FUNCTIONS; docs/lint.md lists them).

A rule's condition is checked node by node when the rules are loaded, so a rule cannot
reach outside the language; a condition that cannot be decided (a value or a fact is
unknown) raises Unknown and does not fire.
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any

from tunekit.errors import RulesError

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
    "mem_kib hugepage_kib inherits sysfs_before container domain type soft hard root_covered "
    "reaches_root winner winner_value "
    "profile want bound minimum maximum key_source None True False "
    "direction default_low default_text default_how below_default unchanged before "
    "writable read_only_key off_harm never_lower no_effect key_reason systemd "
    "services_nofile shape count_live writer target conf_combine limit_default "
    "limit_is_default reserved_outside linux registered_in option winner_key zeroes_in "
    "needs_key needs_values needs_source needs_now readable in_child runtime_ok applied dropped "
    "advised_out advised context unknown_names choices choices_source "
    "socket_max socket_max_source limit_floor limit_floor_how "
    "unknown_param module_params in_use in_use_what in_use_fails "
    "limit_part below_other below_other_does below_other_source param_default param_rejected "
    "mode_set_at_boot write_ignored missing mode fd refused read_as services_span "
    "sysfs_default sysfs_default_source mode_cost tuned_version tuned_maps_knobs"
).split()
FUNCTIONS = (
    "boot",
    "boot_n",
    "at_boot",
    "param",
    "autoload",
    "builtin",
    "loaded",
    "set_in_files",
    "module_of",
    "gib",
    "replace",
    "chr",
)
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
