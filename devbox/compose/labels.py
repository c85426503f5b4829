"""The labels compose puts on its containers and those devbox adds to supervised services."""

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
LABEL_SERVICE = "devbox.service"
LABEL_SUPERVISOR = "devbox.supervisor"


def number(container) -> int:
    """A replica's number (1 for the first, or when compose did not say)."""
    try:
        return int(container.labels.get(COMPOSE_NUMBER, "1"))
    except ValueError:
        return 1
