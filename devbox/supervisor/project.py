"""Which code is the project's: files under the project directory, except installed packages
(site-packages, dist-packages: a virtualenv inside the project is not project code) and the
supervisor itself. Everything else is a dependency, which a warm template may import once for
every reload; project code is imported afresh by every child.
"""

import os
import sys

SUPERVISOR_DIR = os.path.dirname(os.path.abspath(__file__))
_INSTALLED = ("site-packages", "dist-packages")


def is_project_file(path, root):
    """True for a source file of the project rooted at `root` (an absolute path)."""
    if not path or path.startswith("<"):
        return False
    path = os.path.abspath(path)
    if not path.startswith(root + os.sep) or path.startswith(SUPERVISOR_DIR + os.sep):
        return False
    parts = path[len(root):].split(os.sep)
    return not any(part in _INSTALLED for part in parts)


def module_file(module):
    """The source (or extension) file a module was loaded from, or None."""
    path = getattr(module, "__file__", None)
    if not isinstance(path, str):
        return None
    if path.endswith((".pyc", ".pyo")) and "__pycache__" not in path:
        path = path[:-1]  # a .py next to its legacy .pyc; stat the source
    return path


def is_project_module(module, root):
    path = module_file(module)
    if path is not None:
        return is_project_file(path, root)
    # A namespace package has no file: it is the project's if one of its directories is.
    return any(is_project_file(os.path.join(p, "x"), root)
               for p in list(getattr(module, "__path__", None) or ()))


def dependencies(names, root):
    """Of the module `names` (in import order), those a template may import: not the project's,
    not __main__, nothing named devbox (ours, stepped aside, or the project's own)."""
    found = []
    for name in names:
        module = sys.modules.get(name)
        if module is None or name in ("__main__", "__mp_main__"):
            continue
        if name == "devbox" or name.startswith("devbox."):
            continue
        if not is_project_module(module, root):
            found.append(name)
    return found


def project_modules(names, root):
    """Of the module `names`, those that are project code."""
    return [n for n in names if n in sys.modules and is_project_module(sys.modules[n], root)]
