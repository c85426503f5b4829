"""FastAPI and Starlette as their users run them: `uvicorn --fd 3` as the command, and (once
issue 14 is done) the ASGI app under `app:` with warm, overlapped reloads and lifespan."""

from tests.integration.frameworks.served import assert_truthful

UVICORN = "command: python3 -m uvicorn main:app --host 0.0.0.0 --fd 3"


def test_uvicorn_on_the_supervisors_socket_serves_and_a_view_edit_is_served(serve):
    box = serve("fastapi_app", UVICORN).started('"fastapi v1"')
    assert '"item_id":3' in box.answer("/items/3")[1]
    box.served_edit("main.py", '"fastapi v1"', '"fastapi v2"')


def test_starlette_lifespan_runs_under_uvicorn(serve):
    box = serve("starlette_app", "command: python3 -m uvicorn app:app --fd 3").started("starlette v1, lifespan ran")
    box.served_edit("app.py", '"starlette v1"', '"starlette v2"', expect="starlette v2, lifespan ran")


def test_the_reload_time_printed_under_uvicorn_is_what_a_client_waits(serve):
    box = serve("fastapi_app", UVICORN).started('"fastapi v1"')
    waited_ms = box.served_edit("main.py", '"fastapi v1"', '"fastapi v2"') * 1000
    assert_truthful(box.wait_reload_lines(1)[-1], waited_ms)


def test_fastapi_under_app_serves_and_reloads(serve):
    box = serve("fastapi_app", "app: main:app").started('"fastapi v1"')
    box.served_edit("main.py", '"fastapi v1"', '"fastapi v2"')


def test_starlette_under_app_runs_lifespan_in_each_child(serve):
    box = serve("starlette_app", "app: app:app").started("starlette v1, lifespan ran")
    box.served_edit("app.py", '"starlette v1"', '"starlette v2"', expect="starlette v2, lifespan ran")


def test_django_asgi_application_under_app_serves_and_reloads(serve):
    box = serve("django_site", "app: mysite.asgi:application").started("django v1")
    box.served_edit("polls/views.py", '"django v1"', '"django v2"', path="/message")
    # The warm-up request reaches a 0.0.0.0 listener as localhost, as runserver's users do:
    # DEBUG's ALLOWED_HOSTS admits it (it used to log a DisallowedHost traceback every reload).
    assert "DisallowedHost" not in box.output()
