"""Exceptions that carry the CLI's documented exit codes.

0 ok, 1 a problem was found (damage, failed fetch, policy refusal),
2 a usage or environment error that prevented a verdict.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class StrongroomError(Exception):
    """Base class: a message meant for a person, and an exit code."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class UsageError(StrongroomError):
    """Bad arguments, bad configuration, or an environment that cannot work (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration or collection file is wrong. The message names file and field."""

    def __init__(self, path: object, field: str, expected: str) -> None:
        super().__init__(f"{path}: field '{field}': expected {expected}")
        self.path = path
        self.field = field
        self.expected = expected


class ProblemFound(StrongroomError):
    """The command ran, and found something wrong (exit 1)."""

    exit_code = EXIT_PROBLEM


class PolicyRefused(ProblemFound):
    """An access or designation policy forbids the action (exit 1)."""
