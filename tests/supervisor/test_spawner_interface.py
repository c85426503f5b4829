"""Every spawner is an interfaces.Spawner, with the interface's signatures: the supervisor loop
may call any of them the same way."""

import inspect

import pytest

from devbox.supervisor.interfaces import Spawner
from devbox.supervisor.spawn import ExecSpawner
from devbox.supervisor.warm import WarmSpawner
from tests.supervisor.test_handover import FakeSpawner


def methods(cls):
    return {name: member for name, member in vars(cls).items()
            if not name.startswith("_") and callable(member)}


@pytest.mark.parametrize("cls", [ExecSpawner, WarmSpawner, FakeSpawner], ids=lambda c: c.__name__)
def test_spawner_keeps_the_interface_signatures(cls):
    assert issubclass(cls, Spawner) and not inspect.isabstract(cls)
    for name, member in methods(Spawner).items():
        ours = list(inspect.signature(member).parameters)
        theirs = list(inspect.signature(getattr(cls, name)).parameters)
        assert theirs == ours, (cls.__name__, name)


def test_a_spawner_that_misses_app_cannot_be_made():
    class Incomplete(Spawner):
        holds_socket = reports_ready = True

        def errorpage(self, report):
            return None

    with pytest.raises(TypeError):
        Incomplete()
