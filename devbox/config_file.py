"""Where a project's devbox.yml is: its name and the upward search. Outside the config package
(which reads and checks the file) so that a command that only needs the path, `devbox status`
answered by the agent, finds it without importing the YAML and schema machinery."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from devbox.errors import ConfigError

CONFIG_NAME = "devbox.yml"


def find_config(start: Path) -> Path:
    """The nearest devbox.yml in `start` or one of its parents."""
    start = Path(os.path.abspath(start))
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} in {start} or any parent directory",
        "run `devbox init` to create one, or pass -f FILE",
    )


def config_path(given: Optional[str], cwd: Optional[Path] = None) -> Path:
    """The absolute path of the devbox.yml a command uses: `given` (-f, relative to `cwd`), else
    the one found upward from `cwd`."""
    cwd = Path(os.path.abspath(cwd if cwd is not None else Path.cwd()))
    return cwd / given if given else find_config(cwd)
