"""The page served while the app cannot run: the exception, where it happened (the project's own
frames first), and how to recover. Plain monospace HTML, no JavaScript.

A report is a plain dict (it crosses from the child to the parent as JSON):
title, summary (one line, for the log), location ("file:line" or ""), detail (the exception as
Python prints it, with the source line for a SyntaxError), project_traceback, traceback, hint.
"""

import os
import signal

from devbox.supervisor.project import is_project_file

HINT_RELOAD = "devbox will reload when you save a file."
HINT_REQUEST = ("This request raised an exception; the app is still running. "
                "devbox will reload when you save a file.")
HINT_EXITED = "Its output is in the log above. devbox will reload when you save a file."

_BODY_LIMIT = 1 << 20  # bytes of a request body read (and dropped) before answering


def report_from_exception(exc, cwd=None, hint=HINT_RELOAD):
    """A report for an exception (import failure, or a request that raised)."""
    import traceback

    cwd = os.path.abspath(cwd or os.getcwd())
    frames = traceback.extract_tb(exc.__traceback__)
    project = [f for f in frames if is_project_file(f.filename, cwd)]
    if isinstance(exc, SyntaxError) and exc.filename:
        filename, lineno, message = exc.filename, exc.lineno, exc.msg
    else:
        last = (project or frames or [None])[-1]
        filename = last.filename if last else None
        lineno = last.lineno if last else None
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    title = "%s: %s" % (name, message) if message else name
    location = "%s:%s" % (_relative(filename, cwd), lineno) if filename else ""
    return {
        "title": title,
        "summary": "%s: %s" % (location, title) if location else title,
        "location": location,
        "detail": "".join(traceback.format_exception_only(type(exc), exc)).rstrip(),
        "project_traceback": "".join(traceback.format_list(project)).rstrip(),
        "traceback": "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip(),
        "hint": hint,
    }


def report_from_status(status, what):
    """A report for a child that exited (status >= 0) or was killed (-signal) with no traceback."""
    title = "%s %s" % (what, describe_status(status))
    return {"title": title, "summary": title, "location": "", "detail": "",
            "project_traceback": "", "traceback": "", "hint": HINT_EXITED}


def describe_status(status):
    if isinstance(status, int) and status < 0:
        try:
            return "was killed by %s" % signal.Signals(-status).name
        except ValueError:
            return "was killed by signal %d" % -status
    return "exited with status %s" % status


def render(report):
    """The error page as UTF-8 HTML bytes."""
    from html import escape

    def section(heading, text):
        if not text:
            return ""
        return "<h2>%s</h2>\n<pre>%s</pre>\n" % (escape(heading), escape(text))

    where = report.get("location") or ""
    page = (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>\n"
        "<style>body{font-family:monospace;margin:2em;max-width:110ch}"
        "pre{white-space:pre-wrap;background:#f4f4f4;padding:1em}</style></head><body>\n"
        "<h1>%s</h1>\n%s<p><strong>%s</strong></p>\n%s%s%s</body></html>\n"
    ) % (
        escape(report.get("title", "error")),
        escape(report.get("title", "error")),
        "<p>%s</p>\n" % escape(where) if where else "",
        escape(report.get("hint") or HINT_RELOAD),
        section("Exception", report.get("detail")),
        section("Your code (most recent call last)", report.get("project_traceback")),
        section("Full traceback", report.get("traceback")),
    )
    return page.encode("utf-8")


def make_app(report):
    """A WSGI app that answers every request with the error page (500)."""
    body = render(report)
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
               ("Cache-Control", "no-store")]

    def errorpage_app(environ, start_response):
        # Read the request before replying: closing with unread input resets the connection,
        # and the browser would show that instead of this page.
        stream = environ.get("wsgi.input")
        left = _content_length(environ)
        while stream is not None and 0 < left <= _BODY_LIMIT:
            chunk = stream.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)
        start_response("500 Internal Server Error", headers)
        return [body]

    return errorpage_app


def _content_length(environ):
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _relative(filename, cwd):
    path = os.path.abspath(filename)
    if path.startswith(cwd + os.sep):
        return path[len(cwd) + 1:]
    return filename
