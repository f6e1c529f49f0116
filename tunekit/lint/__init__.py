"""lint: the tuning lines a host carries, checked against what the kernel does.

rules.py loads knowledge/rules.toml; language.py is the condition language; host.py the
host the lines are checked against; engine.py the linter and its report. The use case is
`tunekit.lint.run(LintOptions(...))` (ops/lint.py).
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("run", "LintOptions"):
        from tunekit.ops.lint import LintOptions, lint

        return lint if name == "run" else LintOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
