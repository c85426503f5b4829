"""Renders the events the core reports (devbox.events): one line per event, quiet by default,
more with -v."""

from __future__ import annotations

import sys
import threading
from typing import List, Optional

from devbox.agent.bus import EventBus, fields_of
from devbox.supervisor import protocol

PREFIX = protocol.LOG_PREFIX
APP_PREFIX = "[app]   "


class Console:
    """Renders session/watcher events: one line per event, quiet by default, more with -v.

    It renders bus records (devbox/agent/bus.py): `console.bus` is the `report` the core gets,
    and this console one of its readers, so it shows what `devbox events` streams."""

    def __init__(self, verbose: bool = False, out=None, service: str = ""):
        self.bus = EventBus()
        self.bus.add_reader(self.record)
        self.verbose = verbose
        self.out = out or sys.stdout
        self.lock = threading.Lock()
        self.width = len(PREFIX)  # compose: widened to fit the longest "[service]" tag
        self._local = threading.local()  # the compose service of the event being rendered
        self.config_file = "devbox.yml"  # the config file's name, as reload lines say it
        self.hook_names: dict = {}  # moment -> what the config file calls it (devcontainer.json's keys)
        self.app_label = lambda service=None: None  # the label of the app's (a service's) port

    def use_config(self, cfg) -> None:
        """Name `cfg`'s file in what follows; a devcontainer.json is said to be the one used."""
        from devbox.config.model import CONFIG_NAME

        self.config_file = cfg.path.name
        self.app_label = cfg.app_label
        if cfg.source != CONFIG_NAME:
            from devbox.devcontainer.mapping import HOOK_KEYS

            self.hook_names = {moment: key for key, moment in HOOK_KEYS.items()}
            self.say(f"using {_shown(cfg.path)}")

    def say(self, text: str) -> None:
        service = getattr(self._local, "service", None)
        self.raw(f"{PREFIX} {service + ': ' if service else ''}{text}")

    def raw(self, text: str) -> None:
        # A file name that is not UTF-8 arrives with surrogate escapes: shown as \udcff, not a crash.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        with self.lock:
            print(text, file=self.out, flush=True)

    def __call__(self, event: str, service: Optional[str] = None, **f) -> None:
        handler = getattr(self, f"on_{event}", None)
        self._local.service = service  # events of a compose service say which one
        try:
            if handler is not None:
                handler(**f)
            elif self.verbose:
                self.say(f"{event} {f}")
        finally:
            self._local.service = None

    def record(self, record: dict) -> None:
        """Render one bus record (this process's, or an agent's read from its socket)."""
        self(str(record["event"]), service=record.get("service"), **fields_of(record))

    def tag(self) -> str:
        """The prefix of an app output line: [app], or [web] for a compose service."""
        service = getattr(self._local, "service", None)
        return f"[{service}]".ljust(self.width) if service else APP_PREFIX

    # -- image and container ---------------------------------------------------------------
    def on_image(self, image, how):
        self.say(f"image {image} ({how})" if how == "cached" else f"{how} image {image}")

    def on_pull(self, image, status, id=""):
        if self.verbose:
            self.say(f"pull {image}: {id} {status}".rstrip())

    def on_build(self, line):
        if self.verbose or line.startswith("Step "):
            self.raw(line)

    def on_built(self, image, seconds):
        self.say(f"image {image} built in {seconds:.1f} s")

    def on_container(self, name, how, spec):
        self.say(f"container {name} {how}" + (f" ({spec['sync']} sync)" if self.verbose else ""))

    def on_container_stopped(self, name, reason):
        self.say(f"✗ container {name} stopped underneath devbox ({reason})")

    def on_container_restarted(self, name, seconds):
        self.say(f"container {name} started again in {seconds:.1f} s, serving again")

    def on_container_down(self, name, reason, rapid):
        self.say(f"container {name} keeps dying ({reason}); not restarting it until you save a file"
                 if rapid else f"container {name} is gone ({reason}); save a file to start it again")

    def on_engine_lost(self, url, error):
        self.say(f"✗ the Docker engine at {url} stopped answering; still watching, waiting for it to come back"
                 + (f" ({error})" if self.verbose else ""))

    def on_engine_back(self, url, seconds):
        self.say(f"the Docker engine at {url} answers again (after {seconds:.0f} s); bringing the container back")

    # -- lifecycle commands ------------------------------------------------------------------
    def on_hook_run(self, moment, labels):
        if self.verbose:
            self.say(f"{self.hook_names.get(moment, moment)}: running {', '.join(labels)}")

    def on_hook_output(self, label, line):
        self.raw(f"{('[' + self.hook_names.get(label, label) + ']').ljust(self.width)} {line}")

    def on_hook_failed(self, moment, label, status):
        key = self.hook_names.get(moment, moment)
        name = key if label == moment else f"{label!r} ({key})"
        self.say(f"✗ lifecycle command {name} failed with exit status {status}; the later ones were not run")

    def on_user_uid(self, user, uid, gid, why):
        if why or self.verbose:
            self.say(f"user {user} has uid {uid}:{gid} in the container" if not why
                     else f"user {user} keeps its uid ({why}); files it writes may not be yours")

    # -- supervisor output -------------------------------------------------------------------
    def on_line(self, line):
        if line.startswith(PREFIX):
            if self.verbose:
                self.raw(line if self.tag() == APP_PREFIX else f"{self.tag()} {line}")
        else:
            self.raw(f"{self.tag()} {line}")

    def on_supervisor(self, kind, **f):
        if kind == protocol.EVENT_CRASHED:
            self.say(f"✗ {f.get('summary') or 'the app exited with status ' + str(f.get('status'))}; "
                     "the app shows the error page until the next save")
        elif self.verbose:
            self.say(f"supervisor {kind} {f}")

    # -- watcher ---------------------------------------------------------------------------------
    def on_watching(self, paths, files):
        where = ", ".join(paths)
        self.say(f"watching {where} ({files:,} files; .gitignore and .dockerignore applied)")

    def on_reloaded(self, paths, ms, **f):
        stages = ""
        if self.verbose and "batch_ms" in f:
            stages = (f" (save->batch {f['batch_ms']:.0f}, ->SIGHUP {f['signal_ms']:.0f}, "
                      f"respawn {f.get('supervisor_ms', 0):.0f}, ready->log line +{f['log_ms']:.0f} ms)")
        self.say(f"↻ {describe(paths)} -> reloaded in {ms:.0f} ms{stages}")

    def on_reload_failed(self, paths, ms, **f):
        pass  # the crashed event already said it, with the reason

    def on_reload_timeout(self, paths, seconds):
        self.say(f"↻ {describe(paths)} -> no new child within {seconds:.0f} s; see the output above")

    def on_synced(self, paths):
        self.say(f"~ {describe(paths, verb='synced')} (no restart)")

    def on_unchanged(self, paths):
        if self.verbose:
            self.say(f"= {describe(paths, verb='saved')} without changes; no reload")

    def on_rebuilding(self, paths):
        self.say(f"⚙ {describe(paths)} -> rebuilding image")

    def on_rebuilt(self, seconds):
        self.say(f"image rebuilt in {seconds:.1f} s, container recreated, serving again")

    def on_rebuild_unchanged(self, seconds):
        self.say(f"image unchanged ({seconds:.1f} s); container kept, reloading")

    def on_config_applied(self, recreated, url):
        self.say(f"⚙ {self.config_file} changed -> container recreated, serving {url}" if recreated
                 else f"⚙ {self.config_file} changed -> applied (the container did not need to change)")

    def on_config_unchanged(self):
        if self.verbose:
            self.say(f"= {self.config_file} changed, but not what it means; nothing to apply")

    def on_config_invalid(self, error):
        self.say(f"✗ {error}; still running the previous {self.config_file}")

    def on_config_restart(self, reason):
        self.say(f"{self.config_file} changed ({reason}); restart devbox to apply it")

    # -- remote engines (copy sync, ssh port forwards) ---------------------------------------------
    def on_copied(self, files, bytes, seconds, workdir):
        self.say(f"copied {files:,} files ({bytes / 1e6:.1f} MB) to {workdir} in {seconds:.2f} s")

    def on_tree_proved(self, changed, deleted, files, seconds):
        what = f"{changed} changed, {deleted} deleted" if changed or deleted else "in sync"
        self.say(f"container tree checked against {files:,} files: {what} ({seconds:.2f} s)")

    def on_sync_failed(self, paths, error):
        self.say(f"✗ {describe(paths)} but copying failed: {error}; the next save tries again")

    def on_forwarding(self, url, destination, remote_port, pid, detached):
        self.say(f"forwarding {url} over ssh to {destination} (its 127.0.0.1:{remote_port}; ssh pid {pid}"
                 + (", stopped by `devbox down`)" if detached else ")"))

    def on_forward_message(self, line, hint=""):
        self.say(f"✗ ssh: {line}" + (f" ({hint})" if hint else ""))

    def on_forward_stopped(self, urls, pid):
        self.say(f"stopped the ssh port forward of {', '.join(urls)} (pid {pid})")

    def on_forward_lost(self, status, reason):
        self.say(f"✗ the ssh port forward ended ({reason}); starting it again")

    def on_forward_retrying(self, reason):
        self.say(f"the ssh port forward cannot start yet ({reason}); retrying with back-off")

    def on_forward_reopened(self, urls, pid, attempts):
        self.say(f"✓ the ssh port forward of {', '.join(urls)} listens again (ssh pid {pid})")

    # -- browser live reload ---------------------------------------------------------------------
    def on_live_proxy(self, url, upstream):
        if self.verbose:
            self.say(f"live reload: {url} in front of {upstream}")

    # -- compose ---------------------------------------------------------------------------------
    def on_compose_up(self, cli, project, file, services):
        self.width = max(len(PREFIX), *(len(name) + 2 for name in services))
        self.say(f"compose project {project} ({file}) starting with {cli}")

    def on_watch_unreadable(self, path):
        self.say(f"✗ cannot read {path}/ (permission denied): left out of the watch; the rest is watched")

    def on_watch_polling(self, reason, paths):
        from devbox.notify import POLL_MS, WATCH_LIMIT_SYSCTL

        hint = (f" (raise it: sudo sysctl {WATCH_LIMIT_SYSCTL}=524288)" if WATCH_LIMIT_SYSCTL in reason else "")
        self.say(f"✗ {reason}{hint}; polling {', '.join(paths)} every {POLL_MS} ms instead")

    def on_feedback_loop(self, path):
        self.say(f"{path} changes after every reload and nothing else does: a loop; no longer reacting "
                 "to it (add it to watch.ignore to say so)")

    def on_action_failed(self, paths, error):
        self.say(f"✗ {describe(paths)} -> {error}")

    def on_compose_unusable(self, error):
        self.say(f"compose could not run ({error}); removing the project by its labels instead")

    def on_compose(self, line):
        if self.verbose:
            self.raw(f"{'[compose]'.ljust(self.width)} {line}")


    # -- the agent -------------------------------------------------------------------------------
    def on_agent_started(self, pid, socket, log, detached):
        if self.verbose:
            self.say(f"agent pid {pid} listening on {socket}" + (f", log {log}" if log else ""))

    def on_project_up(self, urls, unsupervised, detached, log, pid, dashboard=None):
        how = (f"agent pid {pid} in the background, log {log}: `devbox logs -f`, `devbox down`" if detached
               else "Ctrl-C to stop")
        if list(urls) == [""]:  # a single container
            self.say(f"serving {labelled(urls[''][0], self.app_label()) if urls[''] else '(no published port)'}  ({how})")
        else:
            for service, service_urls in urls.items():
                url = labelled(service_urls[0], self.app_label(service)) if service_urls else "(port not published)"
                self.say(f"{service}: serving {url}")
            for service in unsupervised:
                self.say(f"{service}: running as compose runs it (not supervised)")
            self.say(how)
        if dashboard:
            self.say(f"dashboard {dashboard}  (`devbox open` opens it)")

    def on_dashboard_started(self, address, port):
        if self.verbose:
            self.say(f"dashboard listening on {address}")

    def on_dashboard_action(self, action):
        self.say(f"{action} asked for on the dashboard")

    def on_batch(self, action, changed, deleted):
        if self.verbose:
            self.say(f"{describe(sorted(changed + deleted))} -> {action}")

    def on_container_exited(self, name, id, exit_code):
        if self.verbose:  # said for a person by container_stopped
            self.say(f"engine: container {name} exited (status {exit_code})")

    def on_container_started(self, name, id):
        if self.verbose:
            self.say(f"engine: container {name} started")

    def on_agent_failed(self, error):
        pass  # the command that fails prints it once, as `devbox: ERROR`

    def on_agent_stopped(self, seconds):
        if seconds is not None:  # else it stopped while starting, and the command says so
            self.say(f"stopped in {seconds:.1f} s")
def labelled(url: str, label) -> str:
    """`url (label)`, or the bare URL without a label (devcontainer.json's portsAttributes)."""
    return f"{url} ({label})" if label else url


def _shown(path) -> str:
    """`path` relative to the current directory when it is under it, else as it is."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
    return str(path) if rel.startswith("..") else rel


def describe(paths: List[str], verb: str = "changed") -> str:
    if not paths:  # asked for by hand (a dashboard button), not by a save
        return "requested"
    if len(paths) == 1:
        return f"{paths[0]} {verb}"
    shown = ", ".join(paths[:2])
    return f"{len(paths)} files {verb} ({shown}{', ...' if len(paths) > 2 else ''})"
