"""The base of every data model tunekit prints or reads back: pydantic, strict about extra
fields, and built lazily.

`defer_build` matters for start-up: building a model's validator costs 1-2 ms, and a
command uses a few of the fifty models defined, so each is built the first time it is
used rather than when its module is imported (bench/startup.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _computed_fields_are_output(cls, data):
        """A document printed with its computed fields (compliant, counts, ...) reads back
        as the same model: they are derived again, never taken from the input."""
        if isinstance(data, dict) and cls.model_computed_fields:
            return {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data
