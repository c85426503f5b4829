"""The one error hierarchy of devbox.

Every error carries a one-line message that says what happened and, where it helps, a hint that
says what to do. Only the CLI turns them into output and exit codes.
"""

from typing import Optional


class DevboxError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def location(file: str = "", line: Optional[int] = None) -> str:
    """The `file:line: ` prefix of a message about a place in a file ("" when there is none)."""
    if not file:
        return ""
    return f"{file}:{line}: " if line is not None else f"{file}: "


class ConfigError(DevboxError):
    """devbox.yml is missing or invalid. `problem` says what is wrong; `file` (as the user
    named it), `line` (1-based) and `key` (the key path, e.g. ``watch.paths[0]``) say where,
    and the message is built from them here and nowhere else."""

    def __init__(self, problem: str, hint: str = "", *, file: str = "", line: Optional[int] = None, key: str = ""):
        super().__init__(location(file, line) + problem, hint)
        self.problem = problem
        self.file = file
        self.line = line
        self.key = key


class EngineError(DevboxError):
    """The Docker engine is unreachable or refused an operation."""


class UsageError(DevboxError):
    """The command line is wrong."""

    exit_code = 2


class RemoteError(EngineError):
    """An ssh:// engine cannot be used: login refused, host unreachable, Docker missing or too old."""


class SyncError(DevboxError):
    """Copy mode: a file could not be copied into the container, or a path is unsafe to copy."""


class ForwardError(DevboxError):
    """A published port could not be forwarded from this machine to a remote engine."""


class ComposeError(DevboxError):
    """A compose project cannot be run: no compose CLI, the compose file is missing or invalid,
    or devbox.yml names a service it lacks."""
