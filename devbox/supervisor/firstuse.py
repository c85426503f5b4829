"""Libraries' first-use costs, paid once in the warm template (template.py) instead of in every
child: what a library builds lazily the first time an app uses it is then in memory each child
is forked with.

FastAPI: the first app and the first request through it build pydantic validators and
serializers for the common types, set up Starlette's routing and middleware machinery and import
their lazy parts (in the framework image, a forked child's warm-up request went from 6.5 to
4.6 ms). A throwaway app with async endpoints only is run here: a sync endpoint would start
anyio's thread pool, and the template must start no thread. Nothing of the project is touched,
and a failure is left alone: the children then pay the cost, as they did.
"""

import sys
import _thread

from devbox.supervisor import warmup

_done = set()


def exercise():
    """Exercise the libraries imported so far, once each; the name of one that left a thread
    running (the template must not keep it), else None."""
    for name, run in _EXERCISES:
        if name in sys.modules and name not in _done:
            _done.add(name)
            try:
                run()
            except Exception:  # noqa: BLE001 - the children pay the cost instead
                pass
            if _thread._count():
                return name
    return None


def _fastapi():
    import asyncio

    import fastapi
    import pydantic

    class Item(pydantic.BaseModel):
        name: str = ""
        count: int = 0

    app = fastapi.FastAPI()

    @app.get("/")
    async def index(q: str = ""):
        return {"message": q}

    @app.post("/items")
    async def items(item: Item) -> Item:
        return item

    asyncio.run(warmup.asgi(app, ("localhost", 8000), None))


_EXERCISES = (("fastapi", _fastapi),)
