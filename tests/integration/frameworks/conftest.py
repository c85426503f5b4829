"""Fixtures of the framework tests: every project runs in the framework image, and `serve`
starts an example from tests/apps under a foreground `devbox up`."""

import pytest

from tests.integration.frameworks.served import Served, copy_example, devbox_yml


@pytest.fixture(scope="session")
def test_image(frameworks_image):
    """The `project` fixture (and so its teardown) uses test_image: here, the framework image."""
    return frameworks_image


@pytest.fixture
def serve(project, docker_client):
    """serve(example, "app: ..." or "command: ...", extra devbox.yml) -> a started `Served`.
    The `project` fixture stops devbox and removes its containers afterwards, even on failure."""
    def start(example, line, extra=""):
        copy_example(example, project.root)
        project.write("devbox.yml", devbox_yml(project, line, extra))
        return Served(project)

    return start
