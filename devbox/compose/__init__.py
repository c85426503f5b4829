"""Compose projects: the user's compose file, run by the real compose CLI, with devbox's
supervisor in the services devbox.yml names.

The user's file is never touched. devbox writes an override file (a second ``-f``) under the
project's ``.devbox/`` directory that gives each supervised service the supervisor as its
command, the supervisor's files (a read-only bind mount of a host copy for a local engine; copied
in with put_archive between ``up --no-start`` and the start for a remote one), devbox labels and
stop settings. Everything else (build, volumes, networks, the services devbox does not supervise)
is compose's business.

Containers are found by compose's own labels; reloads go straight to a container through the
Docker API (SIGHUP), so a reload costs no compose invocation. One watcher covers the union of the
services' watch paths; each batch is split per service and the services it touches reload
concurrently.
"""
from devbox.compose.cli import COMPOSE_ENV, ComposeCLI, compose_message, find_cli  # noqa: F401
from devbox.compose.dispatch import Dispatcher, Running, ServiceTarget, UnionFilter, service_filter  # noqa: F401
from devbox.compose.labels import (COMPOSE_NUMBER, COMPOSE_ONEOFF, COMPOSE_PROJECT, COMPOSE_SERVICE,  # noqa: F401
                                   LABEL_SERVICE, LABEL_SUPERVISOR)
from devbox.compose.override import missing_services, plan_override  # noqa: F401
from devbox.compose.session import STATE_DIR, ComposeSession  # noqa: F401
