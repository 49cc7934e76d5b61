"""The error a bad setting raises, and the converters' own error."""

from __future__ import annotations


class ConfigError(Exception):
    """A bad configuration value; `str()` is one line: ``VARIABLE: problem``."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(variable, problem)
        self.variable = variable
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.variable}: {self.problem}"


class Invalid(Exception):
    """Raised by a converter; the caller adds the variable name."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def show(value: object, limit: int = 60) -> str:
    """repr() of a value, shortened: always a single line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
