"""Flask 3 as its users run it: `app:` with a module app or a factory, `flask run`, gunicorn."""

import pytest

from tests.integration.frameworks.served import assert_truthful

FLASK_APP = "app: app:app"


def test_an_app_serves_its_template_and_a_view_edit_is_served(serve):
    box = serve("flask_app", FLASK_APP).started("flask v1")
    assert "template v1" in box.answer("/")[1]
    box.served_edit("app.py", '"flask v1"', '"flask v2"')
    assert box.wait_reload_lines(1)


def test_a_syntax_error_shows_the_error_page_and_the_next_save_recovers(serve):
    box = serve("flask_app", FLASK_APP).started("flask v1")
    box.edit("app.py", "def message():", "def message(:")
    page = box.wait_error_page()
    assert "SyntaxError" in page and "app.py" in page
    box.served_edit("app.py", "def message(:", "def message():", expect="flask v1")


def test_the_reload_time_printed_is_what_a_client_waits(serve):
    box = serve("flask_app", FLASK_APP).started("flask v1")
    waited_ms = box.served_edit("app.py", '"flask v1"', '"flask v2"', path="/message") * 1000
    printed_ms = box.wait_reload_lines(1)[-1]
    assert_truthful(printed_ms, waited_ms)


def test_a_template_edit_is_served_on_the_next_request(serve):
    box = serve("flask_app", FLASK_APP).started("template v1")
    box.served_edit("templates/index.html", "template v1", "template v2", timeout=8)


def test_a_factory_serves_and_reloads(serve):
    box = serve("flask_factory", 'app: "flaskr:create_app()"').started("factory v1")
    box.served_edit("flaskr/__init__.py", '"factory v1"', '"factory v2"')


def test_a_factory_with_literal_arguments_gets_them(serve):
    box = serve("flask_factory", """app: 'flaskr:create_app(test_config={"SUFFIX": " with arguments"})'""")
    box.started("factory v1 with arguments")


@pytest.mark.parametrize("debug", ["--debug", "--no-debug"])
def test_flask_run_serves_and_reloads(serve, debug):
    box = serve("flask_app", f"command: python3 -m flask --app app run {debug} --host 0.0.0.0 --port 8000")
    box.started("flask v1")
    box.served_edit("app.py", '"flask v1"', '"flask v2"')


def test_gunicorn_on_the_supervisors_socket_serves_and_reloads(serve):
    box = serve("flask_app", "command: gunicorn --bind fd://3 app:app")
    box.started("flask v1")
    box.served_edit("app.py", '"flask v1"', '"flask v2"')
