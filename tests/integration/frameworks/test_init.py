"""`devbox init` in a framework's project writes an `app:` and port that serve on the first `devbox up`."""

import pytest
import yaml

from tests.integration.frameworks.served import CONTAINER_PORT, Served, copy_example

ISSUE_14_ASGI = pytest.mark.xfail(strict=True, reason="issue 14: app: serves WSGI only (init rightly writes "
                                                      "the ASGI app)")
ISSUE_14_FACTORY = pytest.mark.xfail(strict=True, reason="issue 14: app: accepts no factory (init rightly writes "
                                                         "flaskr:create_app())")


@pytest.mark.parametrize("example, first_page", [
    ("django_site", "django v1"),
    ("flask_app", "flask v1"),
    ("bottle_app", "bottle v1"),
    pytest.param("flask_factory", "factory v1", marks=ISSUE_14_FACTORY),
    pytest.param("fastapi_app", "fastapi v1", marks=ISSUE_14_ASGI),
    pytest.param("starlette_app", "starlette v1", marks=ISSUE_14_ASGI),
])
def test_init_then_up_serves(project, docker_client, example, first_page):
    copy_example(example, project.root)
    said = project.devbox("init", "--image", project.image).stdout
    assert said.startswith("found "), said
    # The written build step installs the requirements from the package index, which containers
    # here cannot reach: run the framework image as it is (it has them), keep everything else.
    path = project.root / "devbox.yml"
    written = yaml.safe_load(path.read_text())
    assert written["ports"] == [str(CONTAINER_PORT)]
    written.update(name=project.name, image=project.image, ports=[f"{project.port}:{CONTAINER_PORT}"])
    del written["build"]
    path.write_text(yaml.safe_dump(written))
    Served(project).started(first_page)
