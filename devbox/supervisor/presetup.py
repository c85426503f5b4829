"""A framework's set-up run once in the warm template (template.py) instead of in every child:
Django's `django.setup()`.

Why: after the template has imported Django, a forked child still spends ~15 ms of a ~28 ms
reload in `django.setup()` (in the framework image, the tutorial's project): populating the app
registry imports every installed app's models and admin modules (django.contrib.auth's forms
among them), which cannot be imported before the registry exists, so the template could not
import them as dependencies. With the set-up done in the template, a child only imports the
project's wsgi/asgi module, its URLconf and views.

How it stays correct, since set-up runs project code (the settings module, each app's
AppConfig, models and admin modules):

- What it read becomes part of the template's stale check: every project module it imported
  (Files.add_loaded) and every project file it opened (an .env a settings module reads, absent
  ones included: created later, they count as a change). The set-up runs in a layer of the
  template (template.SetupLayer): a save of any of them ends that layer, and a new one, forked
  from the template, runs the set-up on the new code (~60 ms in the framework image, against
  ~0.4 s for a new template).
- It must leave the process fit to fork: no thread started, no file or connection left open
  (Django's database connections are closed after it). Otherwise it is "unsafe": the template
  exits, and from then on every child runs the set-up itself, as before.
- An exception (a syntax error in models.py while it is being edited) is an "error": the
  template exits, the next one starts without the set-up, the child shows the error page, and
  once a child loads again it reports the set-up anew.

The child side: after it has loaded the app, `learned()` names the set-up the template may run
(Django's settings module, when the app set Django up from one); a child forked from a set-up
template whose app names other settings (wsgi.py edited to point elsewhere) is `mismatched()`.
"""

import os
import sys
import _thread

DJANGO = "django"
_SETTINGS_ENV = "DJANGO_SETTINGS_MODULE"


def learned():
    """"django SETTINGS" when the app loaded so far has set Django up from a settings module,
    else None."""
    settings_module = _django_settings_module()
    if settings_module is None or not all(part.isidentifier() for part in settings_module.split(".")):
        return None
    return "%s %s" % (DJANGO, settings_module)


def mismatched():
    """In a child: True when Django was set up in the template from other settings than the
    ones the app's environment names now (the child then serves stale settings: it asks for a
    new template instead)."""
    if not was_set_up():
        return False
    wanted = os.environ.get(_SETTINGS_ENV)
    return wanted is not None and wanted != _django_settings_module()


def was_set_up():
    apps = getattr(sys.modules.get("django.apps"), "apps", None)
    return bool(apps is not None and apps.ready)


def _django_settings_module():
    if not was_set_up():
        return None
    settings = sys.modules["django.conf"].settings
    if not settings.configured:
        return None
    name = getattr(settings, "SETTINGS_MODULE", None)  # None after settings.configure()
    return name if isinstance(name, str) and name else None


class Failed(Exception):
    """The set-up cannot be kept: `kind` is "unsafe" (never again) or "error" (until a child
    reports it again)."""

    def __init__(self, kind, reason):
        super().__init__(reason)
        self.kind = kind


UNSAFE = "unsafe"
ERROR = "error"


def run(spec, root):
    """In the template: run the set-up `spec` names ("django SETTINGS"); the project files it
    opened (absolute paths). Raises Failed."""
    framework, _, settings_module = spec.partition(" ")
    if framework != DJANGO or not settings_module:
        raise Failed(UNSAFE, "unknown set-up %r" % spec)
    fds = _open_fds()
    opened = _Opened(root)
    had = os.environ.get(_SETTINGS_ENV)
    os.environ[_SETTINGS_ENV] = settings_module
    try:
        with opened:
            import django
            from django.db import connections

            django.setup(set_prefix=False)  # as get_wsgi_application() calls it
            connections.close_all()
    except BaseException as exc:  # noqa: BLE001 - whatever it raises, the child shows it
        raise Failed(ERROR, " ".join(("%s: %s" % (type(exc).__name__, exc)).split())[:300]) from None
    finally:
        if had is None:  # the child's wsgi.py sets it, as it would without us (see mismatched)
            os.environ.pop(_SETTINGS_ENV, None)
        else:
            os.environ[_SETTINGS_ENV] = had
    if _thread._count():
        raise Failed(UNSAFE, "it starts a thread, and a process with threads cannot be forked safely")
    left_open = sorted(_open_fds() - fds, key=int)
    if left_open:
        raise Failed(UNSAFE, "it leaves fd %s open (a file or connection every child would share)"
                     % ", ".join(left_open))
    return opened.paths


def _open_fds():
    return set(os.listdir("/proc/self/fd")) - {"0", "1", "2"}


class _Opened:
    """Records the project files opened while in the `with` block (an audit hook: added once,
    for the process's life, and idle outside the block)."""

    _active = None  # the recording _Opened, if any
    _hooked = False

    def __init__(self, root):
        self.root = root + os.sep
        self.paths = []

    def __enter__(self):
        if not _Opened._hooked:
            sys.addaudithook(_Opened._hook)
            _Opened._hooked = True
        _Opened._active = self
        return self

    def __exit__(self, *exc):
        _Opened._active = None
        return False

    @staticmethod
    def _hook(event, args):
        active = _Opened._active
        if active is None or event != "open":
            return
        path = args[0]
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if isinstance(path, str):
            path = os.path.abspath(path)
            if path.startswith(active.root) and "__pycache__" not in path and path not in active.paths:
                active.paths.append(path)
