"""The error page and its report: what failed, where, project frames first, how to recover."""

import sys

from devbox.supervisor import errorpage


def _raise_from(path, source, tmp_path):
    path.write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        __import__(path.stem)
    except Exception as exc:  # noqa: BLE001
        return exc
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(path.stem, None)
    raise AssertionError("no exception")


def test_syntax_error_report_names_file_and_line(tmp_path):
    exc = _raise_from(tmp_path / "broken_views.py", "x = 1\ndef f(:\n", tmp_path)
    report = errorpage.report_from_exception(exc, cwd=str(tmp_path))
    assert report["location"] == "broken_views.py:2"
    assert report["summary"].startswith("broken_views.py:2: SyntaxError: ")
    assert "def f(:" in report["detail"]


def test_runtime_error_points_at_the_project_frame(tmp_path):
    (tmp_path / "helper_mod.py").write_text("def boom():\n    raise KeyError('missing')\n")
    exc = _raise_from(tmp_path / "main_mod.py", "import helper_mod\nhelper_mod.boom()\n",
                      tmp_path)
    sys.modules.pop("helper_mod", None)
    report = errorpage.report_from_exception(exc, cwd=str(tmp_path))
    assert report["summary"] == "helper_mod.py:2: KeyError: 'missing'"
    assert "main_mod.py" in report["project_traceback"]
    assert "test_errorpage.py" not in report["project_traceback"]  # outside the project
    assert "test_errorpage.py" in report["traceback"]


def test_page_is_escaped_html_with_the_recovery_line():
    report = errorpage.report_from_status(1, "the app <x>")
    report["traceback"] = "Traceback\n  <script>alert(1)</script>"
    page = errorpage.render(report).decode()
    assert "the app &lt;x&gt; exited with status 1" in page
    assert "<script>" not in page
    assert "devbox will reload when you save a file" in page
    assert "<pre>" in page and "font-family:monospace" in page


def test_status_descriptions():
    assert errorpage.describe_status(2) == "exited with status 2"
    assert errorpage.describe_status(-9) == "was killed by SIGKILL"


def test_app_reads_the_body_and_answers_500():
    import io

    app = errorpage.make_app(errorpage.report_from_status(1, "the app"))
    body = io.BytesIO(b"x" * 100)
    seen = []
    out = app({"wsgi.input": body, "CONTENT_LENGTH": "100"},
              lambda status, headers: seen.append((status, dict(headers))))
    assert body.tell() == 100
    assert seen[0][0] == "500 Internal Server Error"
    assert int(seen[0][1]["Content-Length"]) == len(b"".join(out))
