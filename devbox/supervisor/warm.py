"""Warm reloads: app children forked from a template process (template.py) that has imported
the app's dependencies already, so a reload re-imports only project code.

WarmSpawner is the interfaces.Spawner for `--app` with warm reloads on. It starts the template
with spawn.spawn(), keeps one forked child on standby, and falls back to spawn.ExecSpawner
where forking cannot work.
"""

import collections
import os
import signal
import socket

from devbox.supervisor import prctl, presetup, protocol
from devbox.supervisor.handles import Standby, Template, Request
from devbox.supervisor.interfaces import SpawnError, Spawner
from devbox.supervisor.primitives import kill_group, send_line
from devbox.supervisor.spawn import ExecSpawner, child_argv, server_args, spawn, template_env


class WarmSpawner(Spawner):
    """Fork each app child from a warm template (template.py) that has imported the --preload
    modules and every dependency earlier children reported, so a reload re-imports only project
    code.

    One forked child waits on standby: app() sends it "go" and hands it over at once, and the
    next standby child is asked for once a child serves (not before: its fork would compete with
    the import that is being timed). Without a standby child, app() asks the template and
    returns None; the child comes through take() when the template answers. A template that
    went stale (a file it imported changed) or rejected a module is replaced, and the requests
    it had not answered go to the next one. Where forking cannot work (no way to adopt the
    children, fork() fails, templates keep dying) every child starts cold from then on, and we
    say so once.
    """

    MAX_REJECTED = 8  # modules rejected before we stop trying
    MAX_DEATHS = 3  # templates in a row that die without a word

    def __init__(self, options, listen_sock, lock_file, python=None, log=None):
        self.cold = ExecSpawner(options, listen_sock, lock_file, python)
        self.options = options
        self.lock_file = lock_file
        self.log = log or (lambda message: None)
        self.root = os.path.abspath(options.project_dir or os.getcwd())
        self.preload = list(options.preload or ())
        self.learned = []  # dependencies children reported, in the order they were imported
        self._known = set(self.preload)
        self.excluded = set()  # never imported by a template again (with their submodules)
        self.rejected = 0
        self.off = None  # why every child starts cold now
        self._template_env = template_env(lock_file)
        self._template = None  # Template
        self._ended = set()  # pids of templates and standby children we let go, to be reaped
        self._requests = collections.OrderedDict()  # n -> Request, until the template answers
        self._sequence = 0
        self._standby = None  # Standby
        self._epoch = 0  # bumped by every import: a child forked before it lacks those modules
        self._delivered = []
        self._deaths = 0
        self.setup = None  # the set-up templates run (presetup.py), as a child reported it
        self.setup_off = None  # why children run it themselves from now on

    @property
    def holds_socket(self):
        return self.cold.holds_socket

    @property
    def reports_ready(self):
        return self.cold.reports_ready

    @property
    def template_pid(self):
        return self._template.pid if self._template is not None else None

    # -- what the supervisor loop calls --------------------------------------------------------

    def app(self, generation):
        if self.off is None and self._template is None:
            self._start_template()
        if self.off is not None:
            return self.cold.app(generation)
        if self._standby is not None and self._standby.epoch == self._epoch:
            standby, self._standby = self._standby, None
            return standby.go()
        self._drop_standby()
        for request in self._requests.values():
            if request.generation is None:  # a standby child is on its way: it is this one
                request.generation = generation
                return None
        self._request(generation)
        return None

    def errorpage(self, report):
        return self.cold.errorpage(report)

    def serving(self):
        """A child serves: time to fork the next standby child."""
        self._want_standby()

    def describe(self):
        return {"warm": self.off is None, "warm_off": self.off, "template_pid": self.template_pid,
                "standby_pid": self._standby.pid if self._standby is not None else None,
                "template_modules": sum(1 for m in self.preload + self.learned
                                        if not self._excluded(m)),
                "template_setup": self.setup, "template_setup_off": self.setup_off}

    def fds(self):
        return [self._template.fileno()] if self._template is not None else []

    def on_readable(self, fd):
        if self._template is None or fd != self._template.fileno():
            return
        resets = 0
        while self._template is not None:
            try:
                data = self._template.sock.recv(protocol.TPL_MAX_PACKET + 4096)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionResetError:
                # It exited with our requests unread: Linux says so first, then hands over
                # what it said before leaving (stale, reject...).
                resets += 1
                data = b"" if resets > 1 else None
            except OSError:
                data = b""
            if data is None:
                continue
            if not data:
                self._template_died()
                return
            self._handle(data.decode("utf-8", "replace"))

    def take(self):
        delivered, self._delivered = self._delivered, []
        return delivered

    def reaped(self, pid, status):
        if pid in self._ended:
            self._ended.discard(pid)
            return True
        if self._standby is not None and pid == self._standby.pid:
            self._standby.control.close()
            self._standby = None
            return True
        if pid == self.template_pid:
            # Its last words (stale, reject...) may still be unread: they say why it left.
            self.on_readable(self._template.fileno())
            if pid == self.template_pid:
                self._template_died()
            self._ended.discard(pid)
            return True
        return False

    def learn(self, modules):
        new = [m for m in modules if m not in self._known and not self._excluded(m)]
        if not new:
            return
        self._known.update(new)
        self.learned.extend(new)
        if self._template is not None:
            self._template.send_names(protocol.TPL_IMPORT, new)
            self._imported()

    def learn_setup(self, spec):
        if self.setup_off is not None or spec == self.setup:
            return
        replace, self.setup = self.setup is not None, spec
        if replace:  # set up from other settings: a template cannot undo that
            self._replace_template()
        elif self._template is not None:
            self._template.send_setup(spec)
            self._imported()

    def _imported(self):
        """The template imported more: the standby child lacks it."""
        self._epoch += 1
        self._drop_standby()  # the next one is forked after the import
        self._want_standby()

    def close(self):
        self._end_template()
        self._drop_standby()
        for request in self._requests.values():
            request.close()
        self._requests.clear()

    # -- the template ----------------------------------------------------------------------

    def _start_template(self):
        if not (prctl.set_child_subreaper() or os.getpid() == 1):
            return self._turn_off("this system cannot adopt the children a template forks "
                                  "(no PR_SET_CHILD_SUBREAPER)")
        o = self.options
        child_args = ["--app", o.app] + server_args(o) + [
            "--report-modules", "--project-dir", self.root]
        if o.poll_modules:
            child_args.append("--poll-modules")
        argv = child_argv(self.cold.python, ["--project-dir", self.root, "--lock-file",
                                             self.lock_file, "--"] + child_args, "template")
        try:
            pid, sock = spawn(argv, self._template_env, self.cold.listen_sock, control=True,
                              control_type=socket.SOCK_SEQPACKET)
        except (SpawnError, OSError) as exc:
            return self._turn_off("cannot start the template: %s" % exc)
        self._template = Template(pid, sock)
        self._epoch += 1
        self._template.send_names(protocol.TPL_PRELOAD,
                                  [m for m in self.preload if not self._excluded(m)])
        self._template.send_names(protocol.TPL_IMPORT,
                                  [m for m in self.learned if not self._excluded(m)])
        if self.setup is not None:
            self._template.send_setup(self.setup)
        for n in self._requests:
            self._send_fork(n)
        return None

    def _replace_template(self):
        """The template exits (stale, or it rejected a module): start the next one now, so it
        imports while nobody waits, and give it the requests the old one left."""
        self._end_template()
        self._drop_standby()
        if self.off is None:
            self._start_template()

    def _end_template(self):
        if self._template is None:
            return
        template, self._template = self._template, None
        self._ended.add(template.pid)
        template.end()

    def _template_died(self):
        """It went away without saying why: start another (it imports in the background), a few
        times, then start children cold."""
        self._end_template()
        if self.off is not None:
            return
        self._deaths += 1
        if self._deaths >= self.MAX_DEATHS:
            self._turn_off("the template exited %d times in a row" % self._deaths)
        else:
            self._start_template()

    def _turn_off(self, why):
        if self.off is None:
            self.off = why
            self.log("warm reload off: %s; every reload starts a fresh interpreter" % why)
        self._end_template()
        self._drop_standby()
        for request in list(self._requests.values()):
            request.close()
            if request.generation is not None:
                try:
                    self._delivered.append((request.generation,
                                            self.cold.app(request.generation)))
                except SpawnError as exc:
                    self._delivered.append((request.generation, exc))
        self._requests.clear()
        return None

    def _handle(self, message):
        kind, _, rest = message.partition(" ")
        if kind == protocol.TPL_FORKED:
            n, _, pid = rest.partition(" ")
            self._forked(self._requests.pop(int(n), None), int(pid))
        elif kind == protocol.TPL_STALE:
            path = rest.partition(" ")[2]
            self.log("%s changed since the warm template imported it: starting a new template"
                     % path)
            self._replace_template()
        elif kind == protocol.TPL_RESETUP:  # the template carries on: nothing to do but say so
            self.log("%s changed since the set-up read it: the warm template runs it again"
                     % rest.partition(" ")[2])
        elif kind == protocol.TPL_SETUP_FAILED:
            failure, _, why = rest.partition(" ")
            if failure == presetup.UNSAFE:
                self._setup_off(why)
            else:  # it raised: the child shows why; the next child that loads reports it again
                self.setup = None
            self._replace_template()
        elif kind == protocol.TPL_FAILED:
            self._turn_off("the template cannot fork (%s)" % rest.partition(" ")[2])
        elif kind == protocol.TPL_REJECT:
            name, _, why = rest.partition(" ")
            self.excluded.add(name)
            self.rejected += 1
            self.log("warm template: %s is imported by each child instead: %s" % (name, why))
            if self.rejected >= self.MAX_REJECTED:
                self._turn_off("%d modules were unfit for a template" % self.rejected)
            else:
                self._replace_template()
        elif kind == protocol.TPL_UNIMPORTABLE:
            name, _, summary = rest.partition(" ")
            self.excluded.add(name)
            if name in self.preload:
                self.log("preload %s: %s" % (name, summary))

    def _forked(self, request, pid):
        if request is None:  # asked twice (its template died meanwhile): one is enough
            self._end_child(pid)
            return
        request.theirs.close()
        self._deaths = 0
        if request.generation is not None:
            send_line(request.ours, protocol.MSG_GO)
            self._delivered.append((request.generation, (pid, request.ours)))
        elif self._standby is None and request.epoch == self._epoch:
            self._standby = Standby(pid, request.ours, request.epoch)
        else:  # forked before the template imported what children need now
            request.ours.close()
            self._end_child(pid)
            self._want_standby()

    def _setup_off(self, why):
        self.setup, self.setup_off = None, why
        self.log("warm template: each child runs Django's set-up itself: %s" % why)

    def _want_standby(self):
        if self.off is None and self._template is not None and self._standby is None \
                and not any(r.generation is None for r in self._requests.values()):
            self._request(None)

    def _drop_standby(self):
        if self._standby is not None:
            standby, self._standby = self._standby, None
            self._ended.add(standby.pid)
            standby.end()

    def _end_child(self, pid):
        self._ended.add(pid)
        kill_group(pid, signal.SIGKILL)

    def _excluded(self, name):
        return any(name == x or name.startswith(x + ".") for x in self.excluded)

    def _request(self, generation):
        self._sequence += 1
        self._requests[self._sequence] = Request(generation, self._epoch)
        self._send_fork(self._sequence)

    def _send_fork(self, n):
        request = self._requests[n]
        request.epoch = self._epoch
        if self._template is not None:
            self._template.send_fork(n, request.theirs)
