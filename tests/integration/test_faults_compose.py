"""Faults under a compose project's `devbox up`, injected for real on the repo's compose/ example
(web calls api; docs unsupervised): a supervised service's container killed underneath is said in
one line and started again alone, and the engine going away and coming back (the test's own
dockerd) brings the services back with the saves made meanwhile."""

import re

from tests.integration.test_compose import shop  # noqa: F401 - the fixture
from tests.own_engine import own_engine_fixture  # noqa: F401 - the fixture
from tests.waiting import wait_until
from tests.printed import own_traceback


def wait_line(box, process, pattern, timeout=60):
    try:
        return wait_until(lambda: re.search(pattern, box.output(process)), timeout, 0.02)
    except AssertionError:
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s in:\n{box.output(process)}") from None


def wait_served(box, process, probe, what, timeout=30):
    try:
        return wait_until(probe, timeout, 0.05, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; devbox said:\n{box.output(process)}") from None


def service_container(client, box, service):
    found = [c for c in box.containers(client) if c.labels.get("com.docker.compose.service") == service]
    assert len(found) == 1, found
    return found[0]


def test_a_killed_service_is_said_started_again_alone_and_serves_the_current_code(shop, docker_client):  # noqa: F811
    process = shop.spawn("up")
    wait_until(lambda: "watching" in shop.output(process), 120, 0.05, "devbox up watching")
    web_pid = shop.web()["pid"]
    api = service_container(docker_client, shop, "api")
    api.kill()
    wait_line(shop, process, rf"api: ✗ container {api.name} stopped underneath devbox \(exit status 137 \(SIGKILL\)\)",
              timeout=10)
    shop.edit("services/api/app.py", '"hello from api v1"', '"hello from api v2"')  # saved while it is down
    wait_line(shop, process, rf"api: container {api.name} started again in [\d.]+ s, serving again")
    wait_served(shop, process, lambda: shop.api()["message"] == "hello from api v2", "api serving v2")
    assert shop.web()["pid"] == web_pid, "web restarted although only api's container died"
    assert service_container(docker_client, shop, "api").id == api.id  # started again, not recreated
    shop.edit("services/api/app.py", '"hello from api v2"', '"hello from api v3"')  # and still watched
    wait_served(shop, process, lambda: shop.api()["message"] == "hello from api v3", "api serving v3")
    output = shop.output(process)
    assert "APIError" not in output and not own_traceback(output) and process.poll() is None, output


def test_the_engine_going_away_and_back_brings_the_compose_services_back(shop, own_engine):  # noqa: F811
    # The test's own dockerd runs without iptables, so compose's DNS (which needs them) does not
    # answer: web is told to call nobody, and api is asked on its own published port.
    shop.edit("docker-compose.yml", "API_URL: http://api:9000", "API_URL: http://127.0.0.1:9")
    env = {"DOCKER_HOST": own_engine.url}
    process = shop.spawn("up", env=env)
    wait_until(lambda: "watching" in shop.output(process), 180, 0.05, "devbox up watching")
    assert shop.web()["title"] == "web v1"
    own_engine.stop()
    wait_line(shop, process, r"the Docker engine at \S+ stopped answering; still watching")
    shop.edit("services/web/app.py", '"web v1"', '"web v2"')  # saved while there is no engine
    shop.edit("services/api/app.py", '"hello from api v1"', '"hello from api v2"')
    own_engine.start()
    wait_line(shop, process, r"the Docker engine at \S+ answers again", timeout=60)
    wait_line(shop, process, r"web: container \S+ started again")
    wait_line(shop, process, r"api: container \S+ started again")
    wait_until(lambda: shop.web()["title"] == "web v2", 60, 0.05, "web v2")
    assert shop.api()["message"] == "hello from api v2"
    assert shop.output(process).count("stopped answering") == 1, shop.output(process)
    shop.edit("services/web/app.py", '"web v2"', '"web v3"')  # and the watcher drives what came back
    wait_until(lambda: shop.web()["title"] == "web v3", 30, 0.05, "web v3")
    assert process.poll() is None and not own_traceback(shop.output(process)), shop.output(process)
    shop.stop_background()
    shop.devbox("down", env=env, check=False, timeout=120)  # the fixture's down is for the shared engine


