"""Which changed files matter, and what a change calls for.

A :class:`PathFilter` answers two questions about a path in the project:

- is it ignored? The rules, lowest priority first: built-in defaults (VCS and virtualenv
  directories, caches, editor swap files), the project's .gitignore files (nested ones apply to
  their own directory, a deeper one overriding a shallower one, as in git), then the user's
  `watch.ignore`, which overrides everything (a "!pattern" there can re-include a default).
  The root .dockerignore applies too, with Docker's meaning: its patterns are anchored at the
  root, and a file it excludes is ignored whatever .gitignore says.
- what does a change call for? :data:`REBUILD` for image inputs (`watch.rebuild`),
  :data:`SYNC` for files the app reads without restarting (`watch.no_reload`), else
  :data:`RELOAD`; :data:`IGNORE` for ignored paths.

All patterns use .gitignore syntax relative to the project root. `watch.rebuild` patterns are
anchored at the root, like .dockerignore ("Dockerfile" is the root one; write
"**/requirements.txt" for any depth), so a vendored package's pyproject.toml does not rebuild
the image.

Decisions are cached per directory and a directory's decision covers everything below it (git
does not look inside an excluded directory either), so an event in a 20,000-file node_modules
costs a dictionary lookup.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import pathspec

from devbox.actions import Action, strongest  # strongest: re-exported
from devbox.paths import STATE_DIR

RELOAD = Action.RELOAD
SYNC = Action.SYNC
REBUILD = Action.REBUILD
IGNORE = Action.IGNORE

GITIGNORE = ".gitignore"
DOCKERIGNORE = ".dockerignore"

DEFAULT_IGNORE = (
    ".git/", ".hg/", ".svn/",
    "__pycache__/", "*.pyc", "*.pyo",
    ".venv/", "venv/", "node_modules/",
    ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".tox/", ".nox/", "*.egg-info/",
    # Editor swap, backup and probe files (vim's "4913", emacs' ".#x" locks and "#x#" autosaves).
    "*.swp", "*.swo", "*.swx", "*~", "4913", ".#*", "\\#*#", ".DS_Store",
)  # fmt: skip

PathLike = Union[str, "os.PathLike[str]"]
_NAMED_GROUP = re.compile(r"\(\?P<\w+>")


@dataclass(frozen=True)
class _DirState:
    hard: bool  # ignored by the defaults or watch.ignore: not even a rebuild file counts
    ignored: bool  # ignored by any rule
    gitignores: tuple[tuple[str, pathspec.PathSpec], ...]  # (base dir, rules), root first


_HARD_IGNORED = _DirState(hard=True, ignored=True, gitignores=())


class PathFilter:
    """Classify paths under `root` (see the module docstring for the rules).

    Rebuild patterns win over .gitignore and .dockerignore: a Dockerfile is commonly listed in
    .dockerignore (it need not be in its own build context) and a lock file may be gitignored,
    yet changing either must rebuild the image. They do not win over the built-in defaults or
    `watch.ignore`, which the user controls directly.

    An instance is a watchfiles `watch_filter`: ``filter(change, path)`` is True for paths worth
    acting on. A change to a .gitignore or .dockerignore reloads the rules and is not reported.
    """

    def __init__(
        self,
        root: PathLike,
        ignore: Sequence[str] = (),
        no_reload: Sequence[str] = (),
        rebuild: Sequence[str] = (),
    ):
        self.root = Path(root).resolve()
        # Events carry the path as the watcher was given it, which may not be the resolved one.
        self._prefixes = tuple(dict.fromkeys((os.path.abspath(root), str(self.root))))
        self._defaults = _compile(DEFAULT_IGNORE)
        self._user = _compile(ignore)
        self._no_reload = _compile(no_reload)
        self._rebuild = _compile(_anchor(p) for p in rebuild)
        self.unreadable: set[str] = set()  # directories a walk could not list (permission denied)
        self.reload_rules()

    # -- rules ---------------------------------------------------------------------------------

    def reload_rules(self) -> None:
        """Forget cached decisions and re-read .dockerignore; .gitignore files are read again as
        directories are next visited."""
        self._dockerignore = _compile(_anchor(p) for p in _read_lines(self.root / DOCKERIGNORE))
        self._dirs: dict[str, _DirState] = {}
        self._dirs[""] = _DirState(False, False, self._gitignores_in("", ()))

    def rule_files(self) -> tuple[str, ...]:
        """The ignore files in effect (relative paths): the root .dockerignore if present, and
        the .gitignore files of the directories visited so far (all of them after a walk)."""
        files = {
            posixpath.join(base, GITIGNORE) for state in self._dirs.values() for base, _ in state.gitignores
        }
        if (self.root / DOCKERIGNORE).is_file():
            files.add(DOCKERIGNORE)
        return tuple(sorted(files))

    # -- questions -----------------------------------------------------------------------------

    def classify(self, path: PathLike) -> Action:
        """RELOAD, SYNC, REBUILD or IGNORE for a changed path, absolute or relative to the root.
        Paths outside the root are ignored; a changed ignore file reloads the rules."""
        rel = self.relative(path)
        if not rel:
            return IGNORE
        if self._is_rule_file(rel):
            self.reload_rules()
            return IGNORE
        return self._classify(rel)

    def classify_batch(self, paths: Iterable[PathLike]) -> Action:
        """The one action a batch of changes calls for: the strongest of its paths'."""
        return strongest(self.classify(p) for p in paths)

    def __call__(self, change: object, path: str) -> bool:
        return self.classify(path) != IGNORE

    def is_ignored(self, path: PathLike) -> bool:
        """Whether the rules leave `path` out (outside the root counts as ignored). Unlike
        classify(), it has no side effects: an ignore file itself is not ignored."""
        rel = self.relative(path)
        return rel is None or (rel != "" and self._classify(rel) == IGNORE)

    def prunes(self, path: PathLike) -> bool:
        """Whether nothing under directory `path` can ever matter (the defaults, watch.ignore,
        devbox's own files: not even a rebuild file), so it need not be watched."""
        rel = self.relative(path)
        return rel is None or (rel != "" and self._dir(rel).hard)

    def walk(self, top: Optional[PathLike] = None) -> Iterator[str]:
        """The files under `top` (default: the root) that are not ignored, as posix paths
        relative to the root, sorted, ignored directories pruned (so a rebuild file inside an
        ignored directory is not listed, though classify() reports it). Symlinks are listed,
        never followed. Unreadable directories are skipped (and kept in `unreadable`)."""
        start = "" if top is None else self.relative(top)
        if start is None:
            return
        if start and not os.path.isdir(self.root / start):
            if not self.is_ignored(start) and os.path.lexists(self.root / start):
                yield start
            return
        if start and self._dir(start).ignored:
            return
        yield from self._walk(start)

    def relative(self, path: PathLike) -> Optional[str]:
        """`path` as a posix path relative to the root ("" for the root itself), or None when it
        is outside. A relative path is taken relative to the root."""
        text = os.fspath(path)
        if os.path.isabs(text):
            text = os.path.normpath(text)
            for prefix in self._prefixes:
                if text == prefix:
                    return ""
                if text.startswith(prefix) and text[len(prefix)] == os.sep:
                    return _posix(text[len(prefix) + 1 :])
            return None
        text = os.path.normpath(text)
        if text == ".":
            return ""
        if text == ".." or text.startswith(".." + os.sep):
            return None
        return _posix(text)

    # -- machinery -----------------------------------------------------------------------------

    def _classify(self, rel: str, is_dir: Optional[bool] = None) -> Action:
        parent = self._dir(posixpath.dirname(rel))
        if parent.hard:
            return IGNORE  # before any stat: this is the path every node_modules event takes
        if parent.ignored:
            # Excluded by .gitignore/.dockerignore: only a rebuild file can still matter.
            if _decide(self._rebuild, rel) and not self._hard(rel) and not self._is_dir(rel):
                return REBUILD
            return IGNORE
        if is_dir is None:
            is_dir = self._is_dir(rel)
        subject = rel + "/" if is_dir else rel
        if self._hard(subject):
            return IGNORE
        if not is_dir and _decide(self._rebuild, rel):
            return REBUILD
        if self._dir(rel).ignored if is_dir else self._ignored(rel, parent):
            return IGNORE
        return SYNC if _decide(self._no_reload, subject) else RELOAD

    def _is_rule_file(self, rel: str) -> bool:
        """A .gitignore that takes effect (not one of the many inside node_modules, whose
        changes must not flush the cache) or the root .dockerignore."""
        if rel == DOCKERIGNORE:
            return True
        return posixpath.basename(rel) == GITIGNORE and not self._dir(posixpath.dirname(rel)).ignored

    def _hard(self, subject: str) -> bool:
        """Ignored by the rules a rebuild pattern cannot override: devbox's own files (whatever
        any rule says: reacting to them is a loop), then watch.ignore, then defaults."""
        if is_devbox_own(subject):
            return True
        user = _decide(self._user, subject)
        return user if user is not None else bool(_decide(self._defaults, subject))

    def _ignored(self, subject: str, parent: _DirState) -> bool:
        """The full rules for one path whose directory is not ignored (`subject` ends in "/"
        for a directory)."""
        user = _decide(self._user, subject)
        if user is not None:
            return user
        if _decide(self._dockerignore, subject):
            return True
        for base, spec in reversed(parent.gitignores):  # the deepest .gitignore speaks first
            decision = _decide(spec, subject[len(base) + 1 :] if base else subject)
            if decision is not None:
                return decision
        return bool(_decide(self._defaults, subject))

    def _dir(self, rel: str) -> _DirState:
        """The cached state of a directory (relative path, "" for the root)."""
        state = self._dirs.get(rel)
        if state is None:
            parent = self._dir(posixpath.dirname(rel))
            if parent.hard:
                state = _HARD_IGNORED
            else:
                subject = rel + "/"
                if self._hard(subject):
                    state = _HARD_IGNORED
                elif parent.ignored or self._ignored(subject, parent):
                    state = _DirState(False, True, parent.gitignores)
                else:
                    state = _DirState(False, False, self._gitignores_in(rel, parent.gitignores))
            self._dirs[rel] = state
        return state

    def _gitignores_in(self, rel: str, inherited: tuple) -> tuple:
        lines = _read_lines(self.root / rel / GITIGNORE)
        return (*inherited, (rel, _compile(lines))) if lines else inherited

    def _is_dir(self, rel: str) -> bool:
        # A deleted directory can no longer be stat'ed, but if events were seen inside it, it
        # is in the cache.
        return rel in self._dirs or os.path.isdir(self.root / rel)

    def _walk(self, rel: str) -> Iterator[str]:
        try:
            with os.scandir(self.root / rel) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            self.unreadable.add(rel)
            return
        except OSError:
            return
        for entry in entries:
            child = posixpath.join(rel, entry.name) if rel else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if not self._dir(child).ignored:
                    yield from self._walk(child)
            elif self._classify(child, False) != IGNORE:
                yield child


def is_devbox_own(subject: str) -> bool:
    """devbox's state directory at the root, and its temporary files anywhere (`.devbox-*`)."""
    return subject == STATE_DIR + "/" or subject.startswith(STATE_DIR + "/") \
        or posixpath.basename(subject.rstrip("/")).startswith(STATE_DIR + "-")


def _compile(lines: Iterable[str]) -> pathspec.PathSpec:
    """Git-style rules; a line git would reject is dropped, not fatal (it is someone else's file)."""
    lines = list(lines)
    try:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:
        spec = pathspec.GitIgnoreSpec.from_lines([line for line in lines if _valid(line)])
    spec.devbox_any = _any_rule(spec)
    return spec


def _any_rule(spec: pathspec.PathSpec) -> Optional["re.Pattern[str]"]:
    """One regex matching wherever any rule of `spec` matches: most paths match no rule, and
    one alternation run in C says so several times faster than trying each rule in turn
    (priming 20,000 watched files spent most of its time there)."""
    parts = []
    for pattern in spec.patterns:
        regex = getattr(pattern, "regex", None)
        if getattr(pattern, "include", None) is None:
            continue
        if regex is None:
            return None  # not a regex rule: no shortcut
        parts.append(_NAMED_GROUP.sub("(?:", regex.pattern))
    try:
        return re.compile("|".join(f"(?:{part})" for part in parts)) if parts else None
    except re.error:
        return None


def _valid(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


def _decide(spec: pathspec.PathSpec, path: str) -> Optional[bool]:
    """True (excluded), False (re-included by a "!" rule) or None (no rule matches)."""
    if not spec.patterns:
        return None
    any_rule = getattr(spec, "devbox_any", None)
    if any_rule is not None and any_rule.match(path) is None:
        return None
    check = getattr(spec, "check_file", None)
    if check is not None:
        return check(path).include
    result = None  # pathspec < 0.12: the same last-match-wins rule, by hand
    for pattern in spec.patterns:
        if pattern.include is not None and pattern.match_file(path) is not None:
            result = pattern.include
    return result


def _anchor(pattern: str) -> str:
    """Anchor a .gitignore-style pattern at the root, which is what .dockerignore means."""
    pattern = pattern.strip()
    if not pattern or pattern.startswith("#"):
        return pattern
    negate = "!" if pattern.startswith("!") else ""
    body = pattern[len(negate) :].lstrip("/")
    return f"{negate}/{body}" if body else pattern


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _posix(path: str) -> str:
    return path.replace(os.sep, "/") if os.sep != "/" else path
