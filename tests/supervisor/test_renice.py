"""While a new child starts, the old one (which still serves) runs at protocol.OUTGOING_NICENESS,
so on a busy machine the CPU goes to the start that is being waited for first."""

import os
import signal
import sys

from devbox.supervisor import protocol
from tests.body_handler import BODY_HANDLER
from tests.supervisor.conftest import free_port, http_get
from tests.waiting import wait_until

# Answers its pid and niceness. A generation started while `gate` exists waits for `go` before it
# binds: the test holds it there and looks at the old one meanwhile.
SERVER = BODY_HANDLER + """
import os, sys, time
if os.path.exists("gate"):
    while not os.path.exists("go"):
        time.sleep(0.01)

class Handler(BodyHandler):
    def body(self):
        return b"pid=%d nice=%d" % (os.getpid(), os.getpriority(os.PRIO_PROCESS, 0))

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_the_old_child_yields_the_cpu_to_its_successor_while_it_serves(tmp_path, supervisor):
    (tmp_path / "server.py").write_text(SERVER)
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, "server.py", str(port)])
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert http_get(port) == (200, "pid=%d nice=%d" % (first["pid"], base))
    (tmp_path / "gate").touch()
    sup.send(signal.SIGHUP)
    expected = "pid=%d nice=%d" % (first["pid"], max(base, protocol.OUTGOING_NICENESS))
    wait_until(lambda: http_get(port) == (200, expected), message="the old child reniced")
    (tmp_path / "go").touch()
    second = sup.wait_event(protocol.EVENT_READY, generation=2)
    assert http_get(port) == (200, "pid=%d nice=%d" % (second["pid"], base))
