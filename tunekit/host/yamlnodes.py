"""The YAML composer's nodes as the readers use them: a mapping's or a free form's
arguments, a scalar's text, a loop item filled into a template (confyaml.py, confrun.py)."""

from __future__ import annotations

import re

LOOPS = ("loop", "with_items", "with_list", "with_dict")  # an Ansible task's loop keywords
# Ansible's free form, `name={{ item.key }} value='1 2'`: a template or quotes hold spaces
FREE_FORM = re.compile(r"(\w+)=((?:\{\{.*?\}\}|'[^']*'|\"[^\"]*\"|[^\s{'\"])+)")
ITEM = re.compile(r"\{\{\s*item(?:\.(\w+)|\[['\"](\w+)['\"]\])?\s*\}\}")


def args(node) -> dict:
    """A module's arguments: a mapping, Salt's list of one-key mappings, or Ansible's
    free form `name=x value=y`."""
    if node is None:
        return {}
    if node.id == "mapping":
        return {k.value: v for k, v in node.value if k.id == "scalar"}
    if node.id == "sequence":
        out = {}
        for item in node.value:
            if item.id == "mapping":
                out.update({k.value: v for k, v in item.value if k.id == "scalar"})
        return out
    return {
        m[1]: Scalar(m[2].strip("'\""), node.start_mark)
        for m in FREE_FORM.finditer(str(node.value))
    }


class Scalar:
    """A value cut from a free-form argument string, shaped as a composer node."""

    id = "scalar"

    def __init__(self, value: str, mark, style=None):
        self.value, self.start_mark, self.style = value, mark, style


# ansible.posix's sysctl module writes these as 1 and 0 (plugins/modules/sysctl.py
# _parse_value, with Ansible's BOOLEANS_TRUE / BOOLEANS_FALSE)
_TRUE = {"y", "yes", "on", "true", "t"}
_FALSE = {"n", "no", "off", "false", "f"}


def ansible_value(text: str | None) -> str | None:
    if text is None:
        return None
    if text.strip().lower() in _TRUE:
        return "1"
    if text.strip().lower() in _FALSE:
        return "0"
    return text


def truthy(node) -> bool:
    return scalar(node) in ("true", "True", "yes", "on")


def scalar(node) -> str | None:
    if node is None or node.id != "scalar":
        return None
    return str(node.value)


def fill(text: str | None, item: dict | None) -> str | None:
    """`{{ item.name }}`, `{{ item['value'] }}`, `{{ item }}` of a loop's item."""
    if text is None or item is None or "{{" not in text:
        return text

    def value(m: re.Match) -> str:
        got = scalar(item.get(m[1] or m[2] or ""))
        return got if got is not None else m[0]

    return ITEM.sub(value, text)


_EXPRESSION = re.compile(r"\{\{(.*?)\}\}")
_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_BLOCK = re.compile(r"\{%-?\s*(\w+)")


def rendered(text: str, fmt: str) -> str:
    """Text an Ansible task writes, as far as it is known before the play renders it:
    each `{{ expr }}` is one word once rendered (`{{ deploy_user }} soft nofile 1000000`
    is a line for one account, `{{deploy_user}}`), so it is judged with the expression as
    its own placeholder where it names the domain; a line whose name, item, type or value
    is an expression is left out, and so is every line inside a `{% if %}` / `{% for %}`
    block (only the play knows which branch, or how many times) and a `{# #}` comment.
    Lines keep their numbers."""
    text = _COMMENT.sub(lambda m: "\n" * m[0].count("\n"), text)
    out, depth = [], 0
    for line in text.split("\n"):
        if "{%" in line:
            for tag in _BLOCK.findall(line):
                if tag in ("if", "for", "macro", "block", "raw", "filter", "call", "with"):
                    depth += 1
                elif tag.startswith("end"):
                    depth = max(0, depth - 1)
            out.append("")
            continue
        if depth:
            out.append("")
            continue
        if "{{" in line:
            line = _EXPRESSION.sub(lambda m: "{{" + "".join(m[1].split()) + "}}", line)
            fields = line.split("#", 1)[0].split()
            domain_only = fmt == "limits.conf" and "{{" not in " ".join(fields[1:])
            line = line if domain_only else ""
        out.append(line)
    return "\n".join(out)
