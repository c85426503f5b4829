"""What `app:` names: ``module:attr.path``, or a factory call ``module:create_app(debug=True)``.

The grammar is gunicorn's: after the colon, a dotted attribute path, optionally called once with
literal arguments (numbers, strings, bytes, True/False/None, and tuples, lists, dicts and sets of
them). The text is parsed with :mod:`ast` and each argument is read with ``ast.literal_eval``:
nothing in it is ever evaluated as code, so ``create_app(os.environ)`` is an error, not a lookup.

Standard library only (Python 3.8+): devbox validates devbox.yml with :func:`parse` on the host,
and the supervisor, copied into the container, loads the app with :func:`load`.
"""

import ast
import importlib
from typing import Any, Dict, NamedTuple, Optional, Tuple

EXAMPLES = "e.g. `app: myproject.wsgi:application` or `app: myapp:create_app(debug=True)`"


class AppSpecError(ValueError):
    """The text is not ``module:callable`` or ``module:factory(literal arguments)``."""


class AppSpec(NamedTuple):
    module: str  # "myproject.wsgi"
    attr_path: Tuple[str, ...]  # ("application",) or ("app", "wsgi_app")
    call: Optional[Tuple[Tuple[Any, ...], Dict[str, Any]]]  # (args, kwargs) of a factory, or None

    def __str__(self):
        text = "%s:%s" % (self.module, ".".join(self.attr_path))
        if self.call is None:
            return text
        args, kwargs = self.call
        shown = [repr(a) for a in args] + ["%s=%r" % item for item in kwargs.items()]
        return "%s(%s)" % (text, ", ".join(shown))


def parse(text):
    """`text` as an AppSpec; AppSpecError (one line, no position) when it is not one."""
    text = text.strip()
    module, colon, expression = text.partition(":")
    if not colon or not is_module_name(module) or not expression:
        raise AppSpecError("is not module:callable")
    try:
        tree = ast.parse(expression, mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: a NUL byte
        raise AppSpecError("is not module:callable") from None
    call = None
    if isinstance(tree, ast.Call):
        call = (_literal_args(tree, expression), _literal_kwargs(tree, expression))
        tree = tree.func
    return AppSpec(module, _attr_path(tree), call)


def is_module_name(text):
    """`pkg.mod`: identifiers joined by dots (the module of an app, or a `preload:` entry)."""
    return all(part.isidentifier() for part in text.split("."))


def load(spec):
    """Import the module, walk the attribute path, call the factory when `spec` has a call;
    the result must be callable (a WSGI or ASGI application)."""
    if isinstance(spec, str):
        spec = parse(spec)
    obj = importlib.import_module(spec.module)
    walked = spec.module
    for name in spec.attr_path:
        if not hasattr(obj, name):
            raise AttributeError("%s has no attribute %r (app: %s)" % (walked, name, spec))
        obj = getattr(obj, name)
        walked += (":" if walked == spec.module else ".") + name
    if spec.call is not None:
        if not callable(obj):
            raise TypeError("%s is not callable, so it cannot be a factory (got %s)" % (walked, type(obj).__name__))
        args, kwargs = spec.call
        obj = obj(*args, **kwargs)
    if not callable(obj):
        raise TypeError("%s is not callable (got %s)" % (spec, type(obj).__name__))
    return obj


def _attr_path(node):
    """("a", "b") for `a.b`; anything but names joined by dots is an error."""
    path = []
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise AppSpecError("is not module:callable")
    path.append(node.id)
    return tuple(reversed(path))


def _literal_args(call, source):
    args = []
    for i, node in enumerate(call.args, 1):
        if isinstance(node, ast.Starred):
            raise AppSpecError("cannot unpack arguments (*): write each argument as a literal")
        args.append(_literal(node, "argument %d" % i, source))
    return tuple(args)


def _literal_kwargs(call, source):
    kwargs = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise AppSpecError("cannot unpack keyword arguments (**): write each as name=literal")
        if keyword.arg in kwargs:
            raise AppSpecError("passes argument %s twice" % keyword.arg)
        kwargs[keyword.arg] = _literal(keyword.value, "argument %s" % keyword.arg, source)
    return kwargs


def _literal(node, what, source):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError):  # TypeError: an unhashable dict key or set item
        raise AppSpecError("%s (%s) is not a literal: factory arguments may only be numbers, strings, "
                           "True, False, None, or lists, tuples, dicts and sets of them"
                           % (what, ast.get_source_segment(source, node))) from None
