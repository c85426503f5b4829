"""The supervisor's command line, for a container (plan, compose) and for `devbox run` alike.

Only the interpreter and the way in differ: in a container, the injected launcher (see
devbox.injected); natively, `python -m devbox.supervisor` from the installed package.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from devbox.supervisor import protocol


def supervisor_args(*, app: Optional[str] = None, command: Sequence[str] = (), port: Optional[int] = None,
                    host: str = protocol.DEFAULT_HOST, listen: str = protocol.LISTEN_MODE_FD,
                    grace: float = protocol.DEFAULT_GRACE, warm: bool = True, overlap: bool = True,
                    preload: Sequence[str] = (), status_file: str = protocol.DEFAULT_STATUS_FILE) -> Tuple[str, ...]:
    """The supervisor's arguments (no interpreter): serve `app`, or run `command`."""
    args = [protocol.FLAG_STATUS_FILE, status_file, protocol.FLAG_GRACE, f"{grace:g}"]
    if port is not None:
        args += [protocol.FLAG_PORT, str(port), protocol.FLAG_HOST, host]
    if app:
        return tuple(args + reload_flags(warm, overlap, preload) + [protocol.FLAG_APP, app])
    if port is None:
        listen = protocol.LISTEN_MODE_SELF  # no port: no socket for the supervisor to hold
    return tuple(args + [protocol.FLAG_LISTEN, listen, "--"] + list(command))


def reload_flags(warm: bool = True, overlap: bool = True, preload: Sequence[str] = ()) -> list:
    """The supervisor's flags for devbox.yml's `reload:` and `preload:` (they apply to `app:`, whose
    children the supervisor forks from a warm template and hands over without a gap)."""
    flags = [] if warm else [protocol.FLAG_NO_WARM]
    if not overlap:
        flags.append(protocol.FLAG_NO_OVERLAP)
    if preload:
        flags += [protocol.FLAG_PRELOAD, ",".join(preload)]
    return flags


def for_config(config, process=None, port=None, **overrides) -> Tuple[str, ...]:
    """supervisor_args() with the project-wide settings of `config` (grace, reload, preload) and
    the app/command/listen of `process` (a compose service; default: the config itself)."""
    process = config if process is None else process
    return supervisor_args(app=process.app, command=process.command or (), port=port, listen=process.listen,
                           grace=config.stop_grace, warm=config.reload.warm, overlap=config.reload.overlap,
                           preload=config.preload, **overrides)
