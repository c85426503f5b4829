"""`app:` specs: `module:attr.path` or a factory call with literal arguments, parsed with ast,
never evaluated; and loading one imports, walks and calls."""

import sys

import pytest

from devbox.supervisor import appspec
from devbox.supervisor.appspec import AppSpec, AppSpecError


@pytest.mark.parametrize("text, spec", [
    ("app:app", AppSpec("app", ("app",), None)),
    (" my.pkg.wsgi:app.wsgi_app ", AppSpec("my.pkg.wsgi", ("app", "wsgi_app"), None)),
    ("app:create_app()", AppSpec("app", ("create_app",), ((), {}))),
    ("app:create_app(debug=True)", AppSpec("app", ("create_app",), ((), {"debug": True}))),
    ("m:f('x', 2, -1.5, None, [1, (2,)], {'a': b'z'}, n={1, 2})",
     AppSpec("m", ("f",), (("x", 2, -1.5, None, [1, (2,)], {"a": b"z"}), {"n": {1, 2}}))),
    ("pkg.factories:Apps.make( 'dev' )", AppSpec("pkg.factories", ("Apps", "make"), (("dev",), {}))),
])
def test_parse(text, spec):
    assert appspec.parse(text) == spec


@pytest.mark.parametrize("text", ["app", "app:", ":app", "a b:app", "1a:app", "a..b:app", "a:1", "a:b(",
                                  "a:b()()", "a:b()[0]", "a:class", "a :b", "a: b", "a:b\x00", "a:lambda: 1"])
def test_not_module_callable(text):
    with pytest.raises(AppSpecError) as info:
        appspec.parse(text)
    assert str(info.value) == "is not module:callable"


@pytest.mark.parametrize("text, problem", [
    ("a:f(os.environ)", "argument 1 (os.environ) is not a literal"),
    ("a:f(debug=__import__('os').system('true'))", "argument debug (__import__('os').system('true')) is not a literal"),
    ("a:f(1, x + 1)", "argument 2 (x + 1) is not a literal"),
    ("a:f({[1]: 2})", "argument 1 ({[1]: 2}) is not a literal"),
    ("a:f(*args)", "cannot unpack arguments (*)"),
    ("a:f(**kw)", "cannot unpack keyword arguments (**)"),
    ("a:f(x=1, x=2)", "passes argument x twice"),
])
def test_only_literal_arguments(text, problem):
    with pytest.raises(AppSpecError) as info:
        appspec.parse(text)
    message = str(info.value)
    assert message.startswith(problem) and "\n" not in message


def test_str_shows_the_spec_as_written():
    assert str(appspec.parse("m:f('x', debug=True)")) == "m:f('x', debug=True)"
    assert str(appspec.parse("m:a.b")) == "m:a.b"


@pytest.fixture
def module(tmp_path, monkeypatch):
    """A real module on sys.path, imported by load."""
    (tmp_path / "factory_mod.py").write_text(
        "calls = []\n"
        "def app(environ, start_response): pass\n"
        "class Holder:\n    inner = staticmethod(app)\n"
        "def create_app(name='default', debug=False):\n"
        "    calls.append((name, debug))\n"
        "    def wsgi(environ, start_response): pass\n"
        "    wsgi.config = (name, debug)\n"
        "    return wsgi\n"
        "not_callable = 42\n"
        "def returns_none(): return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "factory_mod"
    sys.modules.pop("factory_mod", None)


def test_load_walks_the_attribute_path(module):
    assert appspec.load(f"{module}:app") is sys.modules[module].app
    assert appspec.load(f"{module}:Holder.inner") is sys.modules[module].app


def test_load_calls_the_factory_with_its_arguments(module):
    assert appspec.load(appspec.parse(f"{module}:create_app('shop', debug=True)")).config == ("shop", True)
    assert appspec.load(f"{module}:create_app()").config == ("default", False)
    assert sys.modules[module].calls == [("shop", True), ("default", False)]


def test_a_factory_is_not_called_without_parentheses(module):
    assert appspec.load(f"{module}:create_app") is sys.modules[module].create_app
    assert sys.modules[module].calls == []


@pytest.mark.parametrize("text, error, message", [
    ("{m}:missing", AttributeError, "factory_mod has no attribute 'missing' (app: factory_mod:missing)"),
    ("{m}:Holder.nope", AttributeError, "factory_mod:Holder has no attribute 'nope' (app: factory_mod:Holder.nope)"),
    ("{m}:not_callable", TypeError, "factory_mod:not_callable is not callable (got int)"),
    ("{m}:not_callable()", TypeError, "factory_mod:not_callable is not callable, so it cannot be a factory (got int)"),
    ("{m}:returns_none()", TypeError, "factory_mod:returns_none() is not callable (got NoneType)"),
])
def test_load_failures_say_what_is_wrong(module, text, error, message):
    with pytest.raises(error) as info:
        appspec.load(text.format(m=module))
    assert str(info.value) == message


def test_a_missing_module_is_an_import_error():
    with pytest.raises(ImportError):
        appspec.load("no_such_module_for_devbox:app")
