"""Django 5 as its users run it: `app: mysite.wsgi:application`, `manage.py` through devbox exec,
and `manage.py runserver` as the command."""

import json

from tests.integration.frameworks.served import Served, copy_example, devbox_yml
from tests.waiting import wait_until

WSGI_APP = "app: mysite.wsgi:application"
RUNSERVER = "command: python3 manage.py runserver 0.0.0.0:8000"


def test_the_wsgi_application_serves_and_a_view_edit_is_served(serve):
    box = serve("django_site", WSGI_APP).started("django v1")
    assert "template v1" in box.answer("/")[1]
    box.served_edit("polls/views.py", '"django v1"', '"django v2"')
    box.wait_text("django v2", "/message")


def test_manage_py_migrate_runs_through_devbox_exec(serve, project):
    serve("django_site", WSGI_APP).started("django v1")
    result = project.devbox("exec", "python3", "manage.py", "migrate", "--no-input")
    assert "Applying auth.0001_initial... OK" in result.stdout, result.stdout + result.stderr
    assert (project.root / "db.sqlite3").stat().st_size > 0
    again = project.devbox("exec", "python3", "manage.py", "migrate", "--no-input")
    assert "No migrations to apply" in again.stdout


def test_runserver_as_the_command_serves_and_a_view_edit_is_served(serve):
    box = serve("django_site", RUNSERVER).started("django v1")
    box.served_edit("polls/views.py", '"django v1"', '"django v2"')


def test_an_app_template_edit_is_served(serve):
    # polls/templates/ is not under watch.no_reload's templates/**: the edit reloads the app.
    box = serve("django_site", WSGI_APP).started("template v1")
    box.served_edit("polls/templates/polls/index.html", "template v1", "template v2")


def test_a_project_template_edit_is_served_on_the_next_request(serve):
    box = serve("django_site", WSGI_APP).started("site header v1")
    box.served_edit("templates/base.html", "site header v1", "site header v2", timeout=8)


def test_static_files_are_served_with_debug_on(serve):
    box = serve("django_site", WSGI_APP).started("django v1")
    box.wait_text("color: green", "/static/polls/style.css", timeout=5)
    box.served_edit("polls/static/polls/style.css", "green", "blue", expect="color: blue",
                    path="/static/polls/style.css")


def supervisor_status(project):
    return json.loads(project.devbox("status", "--json").stdout)["containers"][0]["supervisor"]


def wait_status(project, key, wanted, timeout=20):
    """Until the supervisor's `key` in devbox status passes `wanted`; the status then."""
    def status():
        current = supervisor_status(project) or {}
        return current if wanted(current.get(key)) else None
    return wait_until(status, timeout, 0.1, f"{key} as expected in devbox status --json")


def wait_template_setup(project, expected):
    """Until the status says which set-up the warm template runs (set after the first child)."""
    return wait_status(project, "template_setup", lambda value: value == expected)


def test_the_warm_template_runs_django_setup_and_a_settings_edit_or_a_file_settings_read_is_served(serve, project):
    # django.setup() runs once in the warm template; what it read (settings.py, note.txt)
    # decides when the template is stale. Without that, the edits below would serve old values.
    box = serve("django_site", WSGI_APP).started("settings v1, note v1", "/greeting")
    template_pid = wait_template_setup(project, "django mysite.settings")["template_pid"]
    box.served_edit("polls/views.py", '"django v1"', '"django v2"', path="/message")
    box.served_edit("mysite/settings.py", '"settings v1"', '"settings v2"',
                    expect="settings v2, note v1", path="/greeting")
    # The set-up runs again in a new layer of the same template: no new template (~0.4 s).
    assert "mysite/settings.py changed since the set-up read it" in box.printed()
    assert "starting a new template" not in box.printed()
    box.served_edit("note.txt", "note v1", "note v2", expect="settings v2, note v2", path="/greeting")
    # set up again, on the new settings, by the same template
    assert wait_template_setup(project, "django mysite.settings")["template_pid"] == template_pid
    box.served_edit("polls/views.py", '"django v2"', '"django v3"', path="/message")


def test_a_broken_settings_module_shows_the_error_page_and_the_fix_is_served(serve, project):
    box = serve("django_site", WSGI_APP).started("settings v1", "/greeting")
    wait_template_setup(project, "django mysite.settings")
    box.edit("mysite/settings.py", 'GREETING = "settings v1"', 'GREETING = "settings v2')
    assert "SyntaxError" in box.wait_error_page("/greeting")
    box.served_edit("mysite/settings.py", 'GREETING = "settings v2', 'GREETING = "settings v3"',
                    expect="settings v3", path="/greeting")
    wait_template_setup(project, "django mysite.settings")


THREAD_IN_READY = """
    def ready(self):
        import threading, time
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
"""


def test_an_app_whose_ready_starts_a_thread_runs_django_setup_in_each_child(project):
    # A forked process keeps only the thread that forked: such a set-up cannot be shared.
    copy_example("django_site", project.root)
    apps_py = project.root / "polls" / "apps.py"
    apps_py.write_text(apps_py.read_text() + THREAD_IN_READY)
    project.write("devbox.yml", devbox_yml(project, WSGI_APP))
    box = Served(project).started("django v1", "/message")
    wait_until(lambda: "each child runs Django's set-up itself: it starts a thread" in box.printed()
               or None, 20, 0.05, "the line saying each child runs the set-up")
    status = wait_status(project, "template_setup_off", bool, timeout=10)  # no reload needed
    assert "starts a thread" in status["template_setup_off"] and status["template_setup"] is None
    box.served_edit("polls/views.py", '"django v1"', '"django v2"', path="/message")
