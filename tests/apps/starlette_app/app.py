import contextlib

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

MESSAGE = "starlette v1"


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.started = "lifespan ran"  # what a real app does here: open a pool, load a model
    yield


async def index(request):
    return PlainTextResponse(f"{MESSAGE}, {request.app.state.started}")


app = Starlette(routes=[Route("/", index)], lifespan=lifespan)
