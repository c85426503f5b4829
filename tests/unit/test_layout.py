"""The README's "Where things live" names every module of the package, so a newcomer finds any
behaviour by its module's name; a new module that is not listed there fails here."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def listed_modules():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Where things live", 1)[1].split("\n## ", 1)[0]
    return section


def test_every_module_is_named_in_the_readme_layout():
    section = listed_modules()
    missing = []
    for path in sorted((REPO / "devbox").rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        rel = path.relative_to(REPO / "devbox")
        # Named as `name.py` in its area's row, or as `package/name.py`.
        if f"`{rel.as_posix()}`" not in section and not re.search(rf"`{re.escape(path.name)}`", section):
            missing.append(rel.as_posix())
    assert not missing, f"add these to README.md's 'Where things live': {missing}"
