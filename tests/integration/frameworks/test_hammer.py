"""No request fails across reloads of the servers people run as a `command:` (issue 14: "0
failed requests"), in a container under `devbox up`, with devbox.yml's defaults: Bottle's own
reloader (`python3 app.py` with `bottle.run(reloader=True)`: a Python command, so it serves on
the supervisor's socket through the shim) and `flask run --debug` (werkzeug, which the shim
stops gracefully)."""

from __future__ import annotations


import pytest

from tests.hammer import Hammer
from tests.project import http_get

RELOADS = 4


@pytest.mark.parametrize("example, line, text", [
    ("bottle_app", "command: python3 app.py", "bottle v1"),
    ("flask_app", "command: python3 -m flask --app app run --debug --host 0.0.0.0 --port 8000",
     "flask v1"),
])
def test_a_command_drops_no_request_across_reloads(serve, example, line, text):
    box = serve(example, line).started(text)
    hammer = Hammer(lambda: http_get(box.project.url + "/", timeout=10.0))
    try:
        old = text
        for n in range(1, RELOADS + 1):
            new = f"{text} r{'!' * n}"  # longer each time: no same-size edit in one second
            box.served_edit("app.py", f'"{old}"', f'"{new}"')
            old = new
    finally:
        hammer.stop()
    assert hammer.answered > 0
    assert hammer.failures == [], f"{hammer.failures}\n--- devbox up printed:\n{box.printed()[-3000:]}"
