"""The JSON documents tunekit prints: one pydantic model per document, one module each.

The engine's own models (Finding, Estimate, Plan, LintReport, Failure, Calibration, ...)
are what a document holds; these modules compose them into what each command prints, so
each shape is defined once. `--json` prints the model, `tunekit schema COMMAND` its JSON
Schema; docs/json.md describes them for people and is generated from here
(`python -m tunekit.output.documents`). A command imports only its own document.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from pydantic import BaseModel

from tunekit.model.base import Model

# document -> (module, model); imported on demand
SCHEMAS: dict[str, tuple[str, str]] = {
    "check": ("tunekit.output.documents.check", "Check"),
    "estimate": ("tunekit.output.documents.estimate", "EstimateCommand"),
    "apply": ("tunekit.output.documents.apply", "Apply"),
    "rollback": ("tunekit.output.documents.rollback", "Rollback"),
    "probe": ("tunekit.output.documents.probe", "Probe"),
    "probe-target": ("tunekit.output.documents.probe_target", "ProbeTarget"),
    "profiles": ("tunekit.output.documents.profiles", "Profiles"),
    "profiles-show": ("tunekit.output.documents.profiles", "ProfileShow"),
    "lint": ("tunekit.lint.report", "LintReport"),
    "export": ("tunekit.output.documents.export", "Export"),
    "status": ("tunekit.output.documents.status", "Status"),
}


def model(kind: str) -> type[BaseModel]:
    module, name = SCHEMAS[kind]
    return getattr(importlib.import_module(module), name)


def schema(kind: str) -> dict:
    """The JSON Schema of what `--json` prints (computed fields included)."""
    return model(kind).model_json_schema(mode="serialization")


def _type_name(annotation: Any) -> str:
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = re.sub(r"\btunekit\.(?:[a-z_]+\.)+", "", text)
    for noise in ("typing.", "__main__.", "<class '", "'>"):
        text = text.replace(noise, "")
    return text.replace("NoneType", "null")


def _fields(model: type[BaseModel]) -> list[tuple[str, Any]]:
    model.model_rebuild()  # built lazily (defer_build): computed fields' types need it
    out = [(name, f.annotation) for name, f in model.model_fields.items()]
    out += [(name, c.return_type) for name, c in model.model_computed_fields.items()]
    return out


def markdown() -> str:
    """The field list of every document, for docs/json.md (generated: see its header)."""
    out: list[str] = []
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel], title: str) -> None:
        if model in seen:
            return
        seen.add(model)
        out.extend([f"### {title}", "", "| field | type |", "|---|---|"])
        nested = []
        for name, annotation in _fields(model):
            out.append(f"| `{name}` | `{_type_name(annotation)}` |")
            for arg in getattr(annotation, "__args__", ()) + (annotation,):
                inner = getattr(arg, "__args__", (arg,))
                nested += [a for a in inner if isinstance(a, type) and issubclass(a, Model)]
        out.append("")
        for sub in nested:
            walk(sub, sub.__name__)

    for kind in SCHEMAS:
        doc = model(kind)
        walk(doc, f"`{kind}`: {doc.__name__}")
    return "\n".join(out)
