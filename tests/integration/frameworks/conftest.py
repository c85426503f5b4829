"""Fixtures of the framework tests: every project runs in the framework image, and `serve`
starts an example from tests/apps under a foreground `devbox up`."""

import pytest

from tests.integration.frameworks.served import Served


@pytest.fixture(scope="session")
def test_image(frameworks_image):
    """The `project` fixture (and so its teardown) uses test_image: here, the framework image."""
    return frameworks_image


@pytest.fixture
def serve(project, docker_client):
    """serve(example, "app: ..." or "command: ...", extra devbox.yml) -> a started `Served`.
    The `project` fixture stops devbox and removes its containers afterwards, even on failure."""
    return lambda example, line, extra="": Served(project, example, line, extra)
