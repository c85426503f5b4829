"""The warm template: a process that has imported the app's dependencies and forks one app child
per reload, so a reload costs a fork and the project's own imports instead of the whole
dependency tree again.

warm.WarmSpawner starts it like a child (fd 3: the listening socket; fd 4: a SOCK_SEQPACKET
socket to the supervisor) and it does what the supervisor asks, one message at a time (TPL_* in
protocol.py):

- preload / import: import modules. A module whose import leaves a thread running is rejected
  (fork copies only the forking thread: the others vanish in the child, with any lock they held),
  and so is a learned module that drags project code in (the template would hold it stale). After
  a rejection the template exits; the supervisor starts a new one without that module.
- fork: stat the files of the dependencies the template has imported (cheap: one stat each;
  the standard library is left out). If one changed, say "stale" and exit: the supervisor starts
  a fresh template. Otherwise fork twice: the middle process exits at once, so the child is
  adopted by the supervisor (a subreaper, or PID 1), which reaps and signals it like any other
  child.

The forked child sets itself up as far as it can without the project (environment, fds, death
signal, control socket) and then waits on standby: the supervisor keeps one such child ready,
so a reload costs a "go" message, the same stat calls again (a dependency may have changed
while it waited: then it exits 3 and the next fork finds the template stale) and the import of
the project's own modules.

Once the modules are in, libraries with first-use costs are exercised once (firstuse.py):
FastAPI's first app and request.

- setup: run a framework's set-up once (presetup.py: Django's, which imports project code; what
  it read joins the stale check), in a layer forked for it (SetupLayer): a change to a file only
  the set-up read costs the set-up again in a new layer, not a new template. If it fails, say
  "setup-failed" and exit.

The template itself starts no thread, and imports nothing of the project but what a set-up
imports.
"""

import array
import gc
import os
import select
import signal
import socket
import sys
import time
import _thread

from devbox.supervisor import bytecode, child, firstuse, prctl, presetup, project, protocol
from devbox.supervisor.primitives import flush_and_exit, read_to_eof

_ADOPTION_TIMEOUT = 1.0  # seconds a forked child waits to be adopted before it carries on


def main(argv=None):
    """Serve the supervisor's requests until it closes the socket; returns the exit status."""
    opts, child_args = _parse_args(sys.argv[1:] if argv is None else argv)
    root = os.path.abspath(opts.get("--project-dir") or os.getcwd())
    lock_file = opts.get("--lock-file", "")
    supervisor_pid = os.getppid()
    prctl.load()  # ctypes now, once, rather than in every child
    child._step_aside()
    bytecode.private_caches(root)
    sock = socket.socket(fileno=protocol.CONTROL_FD)
    sock.set_inheritable(False)
    files = Files()
    files.add_loaded()
    layer = None  # in a set-up layer (SetupLayer): its link to the template it was forked from
    pending = []  # messages a new layer handles before the supervisor's next
    while True:
        message, fds = pending.pop(0) if pending else _receive(sock)
        if message is None:
            return 0  # the supervisor is gone, or wants us gone
        kind, _, rest = message.partition(" ")
        if kind in (protocol.TPL_PRELOAD, protocol.TPL_IMPORT):
            if layer is not None:
                layer.imported.append(message)
            rejected = import_modules(rest.split(), root, kind == protocol.TPL_PRELOAD,
                                      lambda text: _say(sock, text))
            if not rejected:
                threaded = firstuse.exercise()
                if threaded:
                    rejected = threaded, "exercising it once started a thread"
            files.add_loaded()
            if rejected:
                _say(sock, "%s %s %s" % (protocol.TPL_REJECT, rejected[0], rejected[1]))
                return 0
        elif kind == protocol.TPL_SETUP and layer is None:
            layer = SetupLayer.fork(files)
            if layer is None:
                return 0  # the base: its last layer ended, and with it the template
            pending = layer.replay
            try:
                files.add_opened(presetup.run(rest, root))
            except presetup.Failed as exc:
                _say(sock, "%s %s %s" % (protocol.TPL_SETUP_FAILED, exc.kind, exc))
                return 0
            files.add_loaded()
        elif kind == protocol.TPL_FORK:
            generation = rest.strip()
            try:
                changed = files.changed()
                if changed and layer is not None and not files.in_base(changed):
                    _say(sock, "%s %s %s" % (protocol.TPL_RESETUP, generation, changed))
                    layer.hand_back(message, fds)
                    flush_and_exit(0)  # finalizing a process this size holds the next layer up
                if changed:
                    _say(sock, "%s %s %s" % (protocol.TPL_STALE, generation, changed))
                    return 0
                if not fds:
                    _say(sock, "%s %s no control socket came with the request"
                         % (protocol.TPL_FAILED, generation))
                    return 1
                try:
                    pid = fork_child(fds[0], child_args, lock_file, sock, supervisor_pid,
                                     files, layer)
                except OSError as exc:
                    _say(sock, "%s %s %s" % (protocol.TPL_FAILED, generation,
                                             " ".join(str(exc.strerror or exc).split())))
                    return 1
                _say(sock, "%s %s %d" % (protocol.TPL_FORKED, generation, pid))
            finally:
                for fd in fds:
                    os.close(fd)
        else:
            for fd in fds:
                os.close(fd)


class SetupLayer:
    """A framework's set-up runs in a layer: a process forked from the template once its
    dependencies are in, which then serves the supervisor in its place. When a file only the
    set-up read changes (settings.py, a models.py), the layer hands the fork request back and
    exits, and the template it came from forks a new layer that runs the set-up on the new code:
    a settings or models save costs the set-up (~20-40 ms for Django) instead of a new template
    (~0.4 s). The template waits meanwhile and never reads the supervisor's socket.

    `imported`: the import messages the layer handled, replayed by the next one with the
    request, so it holds what this one held. `replay`: what this one is to handle first."""

    def __init__(self, link, replay):
        self.link = link
        self.replay = replay
        self.imported = []

    @classmethod
    def fork(cls, files):
        """In the new layer: its SetupLayer. In the template: None, once the layers it forked
        have ended without handing anything back."""
        replay = []
        template_pid = os.getpid()
        while True:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = os.fork()
            if pid == 0:
                ours.close()
                if prctl.load():  # the supervisor ends the template's group; this covers the rest
                    prctl.set_parent_death_signal(signal.SIGKILL, template_pid)
                files.freeze_base()
                return cls(theirs, replay)
            theirs.close()
            _close_all(replay)
            replay = []
            while True:
                message, fds = _receive(ours)
                if message is None:
                    break
                replay.append((message, fds))
            ours.close()
            os.waitpid(pid, 0)  # gone already: its link closed as it left
            if not replay or not replay[-1][0].startswith(protocol.TPL_FORK + " "):
                _close_all(replay)
                return None

    def hand_back(self, request, fds):
        """To the template: the imports to replay, then the fork request (with its socket)."""
        for message in self.imported:
            self.link.send(message.encode("utf-8"))
        self.link.sendmsg([request.encode("utf-8")],
                          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else [])
        self.link.close()


def _close_all(messages):
    """Close the fds that came with (text, [fds]) messages."""
    for _, fds in messages:
        for fd in fds:
            os.close(fd)


def import_modules(names, root, project_allowed, say):
    """Import `names` in order; (name, reason) for the first one the template must not keep,
    else None. A name that fails to import is reported (TPL_UNIMPORTABLE) and skipped: the child
    imports it itself and shows the error, if it is one."""
    for name in names:
        if name in sys.modules:
            continue
        before = set(sys.modules)
        try:
            __import__(name)
        except BaseException as exc:  # noqa: BLE001 - whatever an import raises, skip it
            summary = " ".join(("%s: %s" % (type(exc).__name__, exc)).split())
            say("%s %s %s" % (protocol.TPL_UNIMPORTABLE, name, summary[:500]))
        # Checked after a failed import too: it may have got far enough to do either.
        if _thread._count():
            return name, "it starts a thread, and a process with threads cannot be forked safely"
        if not project_allowed:
            dragged = project.project_modules([n for n in sys.modules if n not in before], root)
            if dragged:
                return name, "it imports project code (%s), which must be fresh in every child" \
                    % dragged[0]
    return None


class Files:
    """The files of the imported modules (the standard library's aside: it changes only with
    the interpreter) and what they looked like when imported."""

    _STDLIB = os.path.dirname(os.__file__) + os.sep

    def __init__(self):
        self._seen = set()  # module names looked at
        self._signatures = {}  # path -> (mtime_ns, size, inode)
        self._base = None  # in a set-up layer: the files the template held before it

    def freeze_base(self):
        self._base = frozenset(self._signatures)

    def in_base(self, path):
        """Whether `path` was the template's before a set-up layer read more."""
        return self._base is None or path in self._base

    def add_loaded(self):
        for name, module in list(sys.modules.items()):
            if name in self._seen:
                continue
            self._seen.add(name)
            path = project.module_file(module)
            if path is None or path.startswith(project.SUPERVISOR_DIR + os.sep):
                continue
            if path.startswith(self._STDLIB) and not _installed(path):
                continue
            if path not in self._signatures:
                signature = child.file_signature(path)
                if signature is not None:
                    self._signatures[path] = signature

    def add_opened(self, paths):
        """Files the template read (presetup.run): absent ones too, whose creation is a change."""
        for path in paths:
            self._signatures.setdefault(path, child.file_signature(path))

    def changed(self):
        """The first file that changed or vanished since it was imported, else None."""
        for path, before in self._signatures.items():
            if child.file_signature(path) != before:
                return path
        return None


def _installed(path):
    parts = path.split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts


def fork_child(control_fd, child_args, lock_file, sock, supervisor_pid, files, layer=None):
    """Fork an app child (through a middle process that exits at once); returns its pid."""
    gc.freeze()  # the children's collector then leaves our objects (and their pages) alone
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(r)
            pid = os.fork()
            if pid == 0:
                os.close(w)
                if layer is not None:
                    layer.link.close()  # the template sees the layer end by this link's EOF
                _run_child(control_fd, child_args, lock_file, sock, supervisor_pid, files)
            try:
                os.setpgid(pid, pid)  # also done in the child: whoever runs first wins the race
            except OSError:
                pass
            os.write(w, str(pid).encode())
        except BaseException as exc:  # noqa: BLE001 - report it, never return into the loop
            try:
                os.write(w, ("error %s" % (getattr(exc, "strerror", None) or exc)).encode())
            except OSError:
                pass
        finally:
            os._exit(0)
    os.close(w)
    out = read_to_eof(r).decode("utf-8", "replace")
    os.waitpid(middle, 0)
    if not out.isdigit():
        raise OSError(out[len("error "):] if out.startswith("error ") else "fork failed")
    return int(out)


def _run_child(control_fd, child_args, lock_file, sock, supervisor_pid, files):
    """In the forked child: become what ExecSpawner's child would be, wait for "go", run."""
    code = 1
    try:
        os.setpgid(0, 0)
        first_parent = os.getppid()
        sock.close()  # frees fd 4 for the child's own control socket
        if control_fd != protocol.CONTROL_FD:
            os.dup2(control_fd, protocol.CONTROL_FD)
            os.close(control_fd)
        env = os.environ
        env[protocol.ENV_CHILD] = protocol.CHILD_VALUE
        env[protocol.ENV_LOCK_FILE] = lock_file
        env[protocol.ENV_BOTTLE_LOCKFILE] = lock_file
        env[protocol.ENV_CONTROL_FD] = str(protocol.CONTROL_FD)
        env[protocol.ENV_LISTEN_PID] = str(os.getpid())
        sys.argv[1:] = child_args
        _adopted(first_parent, supervisor_pid)
        code = child.main(child_args, standby=lambda control: _standby(control, files))
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - show it, then leave like a crashed child
        import traceback

        traceback.print_exc()
    finally:
        flush_and_exit(code)


def _adopted(first_parent, supervisor_pid):
    """Wait for the middle process to be gone (then the supervisor is our parent) and ask to die
    with the supervisor, as a child it started itself would."""
    deadline = time.monotonic() + _ADOPTION_TIMEOUT
    while os.getppid() == first_parent != supervisor_pid and time.monotonic() < deadline:
        time.sleep(0.0002)
    if os.getppid() == supervisor_pid and supervisor_pid != 1 and prctl.load():
        prctl.set_parent_death_signal(signal.SIGKILL, supervisor_pid)


def _standby(control, files):
    """Wait for "go" (None: run) or for "stop" or EOF (0: we were not needed). On "go", a
    dependency that changed since the template imported it means this process holds old code:
    exit 3, the supervisor's next request finds the template stale and gets a fresh one."""
    if control is None:
        return None
    poller = select.poll()
    poller.register(control, select.POLLIN)
    buffered = b""
    while True:
        poller.poll()
        try:
            data = control.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            data = b""
        if not data:
            return 0
        buffered += data
        lines = buffered.split(b"\n")
        if protocol.MSG_STOP.encode() in lines:
            return 0
        if protocol.MSG_GO.encode() in lines:
            if files.changed():  # the template says which, when asked to fork again
                return protocol.RELOAD_EXIT_CODE
            return None


def _receive(sock):
    """(text, [fds]) of the next message, or (None, []) at EOF."""
    anc_size = socket.CMSG_SPACE(4 * array.array("i").itemsize)
    while True:
        try:
            data, ancdata, _, _ = sock.recvmsg(protocol.TPL_MAX_PACKET + 4096, anc_size)
            break
        except InterruptedError:
            continue
        except OSError:
            return None, []
    fds = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            received = array.array("i")
            received.frombytes(payload[:len(payload) - len(payload) % received.itemsize])
            fds.extend(received)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return data.decode("utf-8", "replace"), fds


def _say(sock, text):
    try:
        sock.send(text.encode("utf-8")[:protocol.TPL_MAX_PACKET])
    except OSError:
        pass  # the supervisor is gone; the next receive sees it


def _parse_args(argv):
    """--key value pairs, then `--` and the app child's own arguments."""
    opts = {}
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1:]
    else:
        rest = []
    for key, value in zip(argv[::2], argv[1::2]):
        opts[key] = value
    return opts, rest


if __name__ == "__main__":
    sys.exit(main())
