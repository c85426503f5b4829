"""How long the engine waits for a container to stop before it kills it.

The supervisor gives an old child `stop_grace` seconds to finish in-flight requests, then exits;
the engine's timeout leaves it two more seconds to do so, so a clean stop is never a SIGKILL.
"""

from __future__ import annotations

MARGIN_S = 2


def stop_timeout(stop_grace: float) -> int:
    """Whole seconds, as `docker stop -t` and compose's stop_grace_period take them."""
    return int(stop_grace) + MARGIN_S
