"""Base for every pluggable component: its constructor keyword arguments are the recipe ``params:``."""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown keys with a close-match suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = list(cls.model_fields)
            for key in data:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    raise ValueError(f"unknown field {key!r}; {hint}allowed: {', '.join(allowed) or 'none'}")
        return data


class Configurable:
    """A component whose keyword arguments are validated by its nested ``Params`` model.

    Subclasses declare ``class Params(StrictModel)`` with typed, constrained fields and defaults.
    The constructor only validates and stores them, so a recipe's ``params:`` maps 1:1 onto it.
    """

    registry_name: ClassVar[str] = ""
    # Params that name a place on disk (a source's root, a texture folder): where, not what. They
    # stay out of the data hash; the build fingerprints what they hold instead.
    LOCATION_PARAMS: ClassVar[tuple[str, ...]] = ()
    # Params that name a model (a Hub id or a local folder; dotted for a nested one, ``residual.backbone``).
    # A Hub id is what the data is made from (in the data hash); a local folder is a location like the
    # ones above, fingerprinted by its config and weights.
    MODEL_PARAMS: ClassVar[tuple[str, ...]] = ()

    class Params(StrictModel):
        pass

    def __init__(self, **params: Any) -> None:
        self.params = self.Params(**params)

    def resolved_params(self) -> dict[str, Any]:
        """Every parameter with defaults filled in, JSON-ready (goes into the resolved recipe)."""
        return self.params.model_dump(mode="json")

    @classmethod
    def describe(cls) -> str:
        """First line of the class docstring, for ``anomset list``."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


def format_validation_error(error: ValidationError, prefix: str = "") -> tuple[str, str]:
    """The dotted field path and one-line message of the first error (with a count of the rest)."""
    first = error.errors()[0]
    path = prefix
    for part in first["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "literal[", "int", "str", "float", "list[", "dict[")):
            continue  # pydantic union/validator branch names, not user-visible fields
        else:
            path = f"{path}.{part}" if path else str(part)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] not in ("value_error", "missing") and "input" in first:
        shown = repr(first["input"])
        message += f" (got {shown[:60]})"
    rest = error.error_count() - 1
    if rest:
        message += f" [and {rest} more error{'s' if rest > 1 else ''}]"
    return path, message
