"""What a framework's own development server does around the app, done for `app:` too; applied
once to whatever `app:` names, after it is loaded (a factory's result included).

Django: runserver serves the files of django.contrib.staticfiles when DEBUG is on by wrapping
its handler in StaticFilesHandler (django/contrib/staticfiles/management/commands/runserver.py,
get_handler; checked against Django 5.2); users expect /static/ to work under
`app: mysite.wsgi:application` (or `mysite.asgi:application`) as well. Nothing is imported
unless the app is already one of Django's handlers.
"""

import sys


def adapt(app):
    """`app` as the framework's own development server would serve it."""
    return _django_static(app)


def _django_static(app):
    wsgi = sys.modules.get("django.core.handlers.wsgi")
    asgi = sys.modules.get("django.core.handlers.asgi")
    is_wsgi = wsgi is not None and isinstance(app, wsgi.WSGIHandler)
    is_asgi = asgi is not None and isinstance(app, asgi.ASGIHandler)
    if not (is_wsgi or is_asgi):
        return app
    from django.apps import apps
    from django.conf import settings

    if not settings.DEBUG or not apps.is_installed("django.contrib.staticfiles"):
        return app
    # StaticFilesHandlerMixin.load_middleware is a no-op: the wrapped handler's stays as it is.
    from django.contrib.staticfiles import handlers

    if is_wsgi:
        return handlers.StaticFilesHandler(app)
    return handlers.ASGIStaticFilesHandler(app)
