"""Settings: built-in defaults < `.env` file < process environment < command-line flags.

``settings``: the `Settings` dataclass (one field per variable) and `VARIABLES`;
``convert``: the converters that parse and validate each value; ``dotenv``: our `.env`
reader; ``errors``: `ConfigError`.  `load_settings` merges the sources.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .dotenv import parse_dotenv, read_env_file
from .errors import ConfigError
from .settings import DERIVED, VARIABLES, Settings

__all__ = ["VARIABLES", "ConfigError", "Settings", "load_settings", "parse_dotenv"]


def load_settings(
    overrides: Mapping[str, str | None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = ".env",
) -> Settings:
    """Merge defaults < `env_file` (if it exists) < `environ` < `overrides` and validate.

    `overrides` keys are variable names (e.g. ``{"SYNC_WORKERS": "4"}``); a None value
    means "not given".  Unknown override keys raise ValueError; unknown `.env` keys are
    ignored.  Bad values raise ConfigError.
    """
    overrides = dict(overrides or {})
    unknown = overrides.keys() - set(VARIABLES)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    merged: dict[str, object] = {}
    if env_file is not None:
        from_file = read_env_file(env_file)
        merged.update((k, v) for k, v in from_file.items() if k in VARIABLES)
    environ = os.environ if environ is None else environ
    merged.update((k, environ[k]) for k in VARIABLES if k in environ)
    merged.update((k, v) for k, v in overrides.items() if v is not None)
    given: dict[str, Any] = {}
    for variable, value in merged.items():
        name = variable.lower()
        if value == "" and name in DERIVED:
            continue  # an empty derived variable means "derive it"
        given[name] = value
    return Settings(**given)
