"""python3 -m devbox.supervisor [--app mod:callable | -- COMMAND ...] [options]"""

from devbox.supervisor import bytecode

bytecode.private_caches()  # before the other imports: the stdlib's own caches, not recompiled

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from devbox.supervisor import protocol  # noqa: E402


def parse_args(argv):
    """Options from the command line; everything after `--` is the child command."""
    own, command = argv, []
    if "--" in argv:
        i = argv.index("--")
        own, command = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(
        prog="python3 -m devbox.supervisor",
        description="Run a WSGI app (--app) or any command (-- CMD ...) and reload it on SIGHUP "
                    "or exit status 3.")
    parser.add_argument(protocol.FLAG_APP, metavar="MODULE:CALLABLE",
                        help="WSGI app served by a threaded wsgiref child")
    parser.add_argument(protocol.FLAG_PORT, type=int,
                        help="port to serve on (default %d with --app)" % protocol.DEFAULT_PORT)
    parser.add_argument(protocol.FLAG_HOST, default=protocol.DEFAULT_HOST,
                        help="address to bind (default %(default)s)")
    parser.add_argument(protocol.FLAG_LISTEN, choices=protocol.LISTEN_MODES,
                        help="fd: the supervisor binds the port and passes it as fd %d "
                             "(default when a port is given); self: the child binds it"
                             % protocol.LISTEN_FD)
    parser.add_argument(protocol.FLAG_INTERVAL, type=float, default=protocol.DEFAULT_INTERVAL,
                        help="seconds between a polling child's looks (--poll-modules; the "
                             "lockfile when it has no control socket); the lockfile is touched "
                             "every max(interval, %s) s (default %%(default)s)"
                             % protocol.TOUCH_MIN_PERIOD)
    parser.add_argument(protocol.FLAG_GRACE, type=float, default=protocol.DEFAULT_GRACE,
                        help="seconds a stopping child may take before SIGKILL "
                             "(default %(default)s)")
    parser.add_argument(protocol.FLAG_NO_WARM, dest="warm", action="store_false",
                        help="start every app child in a fresh interpreter instead of forking "
                             "it from a template that has imported the app's dependencies")
    parser.add_argument(protocol.FLAG_NO_OVERLAP, dest="overlap", action="store_false",
                        help="stop the old child when a reload starts instead of when the new "
                             "one is ready")
    parser.add_argument(protocol.FLAG_PRELOAD, metavar="MOD[,MOD...]", action="append", default=[],
                        help="modules the warm template imports at start (repeatable)")
    parser.add_argument(protocol.FLAG_PROJECT_DIR, metavar="DIR",
                        help="the project's code: imported afresh by every child; modules from "
                             "anywhere else stay in the warm template (default: the cwd)")
    parser.add_argument(protocol.FLAG_POLL_MODULES, action="store_true",
                        help="the app child stats its modules every interval and reloads on a "
                             "change (when no host watcher sends SIGHUP)")
    parser.add_argument(protocol.FLAG_STATUS_FILE, default=protocol.DEFAULT_STATUS_FILE,
                        help="JSON status, rewritten on every change (default %(default)s)")
    parser.add_argument(protocol.FLAG_LOCK_FILE,
                        help="heartbeat lockfile (default %s)" % protocol.DEFAULT_LOCK_FILE)
    options = parser.parse_args(own)
    options.command = command
    if bool(options.app) == bool(command):
        parser.error("give either --app MODULE:CALLABLE or -- COMMAND ARGS...")
    if options.app and options.port is None:
        options.port = protocol.DEFAULT_PORT
    if options.listen is None:
        options.listen = protocol.LISTEN_MODE_FD if options.port is not None \
            else protocol.LISTEN_MODE_SELF
    if options.listen == protocol.LISTEN_MODE_FD and options.port is None:
        parser.error("--listen fd needs --port")
    if options.interval <= 0 or options.grace < 0:
        parser.error("--interval must be > 0 and --grace >= 0")
    options.preload = [name for value in options.preload for name in value.split(",") if name]
    if options.project_dir is not None:
        options.project_dir = os.path.abspath(options.project_dir)
    if options.lock_file is None:
        options.lock_file = protocol.default_lock_file(os.getpid())
    return options


def main(argv=None):
    options = parse_args(sys.argv[1:] if argv is None else argv)
    from devbox.supervisor.bytecode import precompile_package
    from devbox.supervisor.heartbeat import Heartbeat
    from devbox.supervisor.parent import Supervisor
    from devbox.supervisor.primitives import bind_listener, write_line
    from devbox.supervisor.spawn import ExecSpawner
    from devbox.supervisor.warm import WarmSpawner

    listen_sock = None
    if options.listen == protocol.LISTEN_MODE_FD:
        try:
            listen_sock = bind_listener(options.host, options.port)
        except OSError as exc:
            print(protocol.log_line("cannot listen on %s: %s (is something else using the port?)"
                                    % (protocol.format_address(options.host, options.port),
                                       exc.strerror or exc)), flush=True)
            return 1
        options.port = listen_sock.getsockname()[1]  # --port 0: the one the system picked
    precompile_package()
    if options.app and options.warm:
        spawner = WarmSpawner(options, listen_sock, options.lock_file,
                              log=lambda message: write_line(sys.stdout,
                                                             protocol.log_line(message)))
    else:
        spawner = ExecSpawner(options, listen_sock, options.lock_file)
    supervisor = Supervisor(options, spawner, Heartbeat(options.lock_file, options.interval))
    return supervisor.run()


if __name__ == "__main__":
    from devbox.supervisor.primitives import flush_and_exit

    # Everything is cleaned up by now; interpreter finalization would add ~15 ms to every stop.
    flush_and_exit(main())
