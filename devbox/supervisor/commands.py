"""What a command child gets beyond every child's environment, so that the servers people run
(`flask run`, gunicorn, Django's runserver...) serve on the supervisor's socket as they are.

Each rule is here because one real server needs it; the server and the reason are given with
it. The names and values are protocol.py's.
"""

import os

from devbox.supervisor import protocol

# The directory of the sitecustomize shim (shim/sitecustomize.py).
SHIM_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), protocol.SHIM_DIR)

# How a command names the inherited socket itself: gunicorn's `--bind fd://3`.
_NAMES_FD = "fd://%d" % protocol.LISTEN_FD


def names_fd(command):
    """True when the command line names fd 3 itself (gunicorn --bind fd://3)."""
    return any(arg.endswith(_NAMES_FD) for arg in command)


def systemd_fds(command):
    """Whether the child gets LISTEN_FDS/LISTEN_PID (systemd socket activation): they make a bare
    `gunicorn app:app` serve on fd 3, but gunicorn 27 given `--bind fd://3` as well lists fd 3
    twice (once per source, sock.py create_sockets), its first listener closes fd 3 and the
    second dies in socket.fromfd with EBADF."""
    return not names_fd(command)


def command_env(env, holds_socket, project_dir):
    """The environment of a command child, from every child's `env` (not modified). The shim
    runs in each of its Pythons: it keeps the image's bytecode caches in use under
    PYTHONPYCACHEPREFIX (project_dir's own modules cache under the prefix), and when we hold the
    socket, it makes Python servers serve on it and stop gracefully."""
    env = dict(env)
    env[protocol.ENV_DJANGO_RUN_MAIN] = protocol.RUN_MAIN_VALUE
    env[protocol.ENV_PROJECT_DIR] = project_dir
    path = [p for p in env.get(protocol.ENV_PYTHONPATH, "").split(os.pathsep) if p]
    env[protocol.ENV_PYTHONPATH] = os.pathsep.join([SHIM_PATH] + path)
    if holds_socket:
        # werkzeug's run_simple reads WERKZEUG_SERVER_FD only when WERKZEUG_RUN_MAIN is "true"
        # (serving.py), which also makes `flask run --debug` run its stat reloader inside the
        # server; FLASK_RUN_RELOAD=false (click's FLASK_ prefix for --reload/--no-reload)
        # switches that off and keeps the debugger. An explicit --reload still wins, and its
        # exit 3 is a reload the supervisor honours.
        env[protocol.ENV_WERKZEUG_RUN_MAIN] = protocol.RUN_MAIN_VALUE
        env[protocol.ENV_WERKZEUG_SERVER_FD] = str(protocol.LISTEN_FD)
        env.setdefault(protocol.ENV_FLASK_RUN_RELOAD, protocol.FLASK_RUN_RELOAD_OFF)
    return env
