"""Where a project's config file is: its devbox.yml searched upward, else the devcontainer.json
of a folder without one (in the Development Containers spec's places). Outside the config
package, which reads and checks the file, so that a command that only needs the path (`devbox
status` answered by the agent) finds it without importing the YAML and schema machinery."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

from devbox.errors import ConfigError

CONFIG_NAME = "devbox.yml"
DEVCONTAINER_NAME = "devcontainer.json"


def find_config(start: Path) -> Path:
    """The nearest devbox.yml in `start` or one of its parents; in a folder without one, its
    devcontainer.json (see :func:`find_devcontainer`)."""
    start = Path(os.path.abspath(start))
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
        found = find_devcontainer(directory)
        if found is not None:
            return found
    raise ConfigError(
        f"no {CONFIG_NAME} or .devcontainer/{DEVCONTAINER_NAME} in {start} or any parent directory",
        "run `devbox init` to create a devbox.yml, or pass -f FILE",
    )


def is_devcontainer(path: Path) -> bool:
    """Whether a config file named on the command line is read as devcontainer.json."""
    return path.suffix in (".json", ".jsonc")


def devcontainer_candidates(directory: Path) -> List[Path]:
    """The devcontainer.json files of a project folder, in the spec's order: the usual
    `.devcontainer/devcontainer.json`, a `.devcontainer.json` beside it, then one per subfolder
    (`.devcontainer/NAME/devcontainer.json`, sorted)."""
    found = [path for path in (directory / ".devcontainer" / DEVCONTAINER_NAME, directory / ".devcontainer.json")
             if path.is_file()]
    named = directory / ".devcontainer"
    if named.is_dir():
        found += sorted(path for path in named.glob(f"*/{DEVCONTAINER_NAME}") if path.is_file())
    return found


def find_devcontainer(directory: Path) -> Optional[Path]:
    """The devcontainer.json of `directory`, if it has one. The usual places win over named
    subfolders; several named ones and none usual is an error that lists them."""
    found = devcontainer_candidates(directory)
    if not found:
        return None
    usual = [path for path in found if path.parent.parent != directory / ".devcontainer"]
    if usual or len(found) == 1:
        return found[0]
    listed = ", ".join(str(path.relative_to(directory)) for path in found)
    raise ConfigError(f"several devcontainer configs in {directory}: {listed}", "pick one with -f PATH")


def config_path(given: Optional[str], cwd: Optional[Path] = None) -> Path:
    """The absolute path of the config file a command uses: `given` (-f, relative to `cwd`),
    else the one found from `cwd`."""
    cwd = Path(os.path.abspath(cwd if cwd is not None else Path.cwd()))
    return cwd / given if given else find_config(cwd)
