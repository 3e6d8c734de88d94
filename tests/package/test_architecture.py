"""docs/architecture.md stays true: every import of every module (at the top or inside a
function) is one its part may make, as the page's table of parts says, and the folder
list is the page's."""

import ast
import os
import re
from pathlib import Path

import pytest

from paths import ROOT

PACKAGE = Path(ROOT) / "keras_initcmp"
PAGE = Path(ROOT) / "docs" / "architecture.md"
ROW = re.compile(r"^\| `(?P<part>[a-z_]+)` \| .* \| (?P<imports>[^|]*) \|$")


def allowed_imports():
    """`{part: {parts it may import}}` from the page's table; "every part" is every part."""
    table = {}
    section = PAGE.read_text(encoding="utf-8").split("\n## The parts\n")[1].split("\n## ")[0]
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            names = re.findall(r"`([a-z_]+)`(?: \([^)]*\))?", match["imports"])
            table[match["part"]] = "*" if match["imports"].strip() == "every part" else set(names)
    return table


def part_of(path):
    relative = path.relative_to(PACKAGE)
    return "__init__" if relative == Path("__init__.py") else relative.parts[0].removesuffix(".py")


def imported_parts(path):
    """The package's parts that `path` imports, absolute imports only (relative ones stay
    within a part), wherever in the module the import is."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] == "keras_initcmp":
            module = node.module.split(".")
            parts |= {alias.name for alias in node.names} if len(module) == 1 else {module[1]}
        elif isinstance(node, ast.Import):
            parts |= {alias.name.split(".")[1] for alias in node.names
                      if alias.name.startswith("keras_initcmp.")}
    return parts


def test_the_table_names_every_part_of_the_package():
    table = allowed_imports()
    on_disk = {part_of(path) for path in PACKAGE.rglob("*.py")}
    assert set(table) == on_disk


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_is_one_its_part_may_make(path):
    table = allowed_imports()
    part = part_of(path)
    if table[part] == "*":
        return
    unexpected = imported_parts(path) - table[part] - {part}
    assert not unexpected, f"{path.relative_to(ROOT)} imports {sorted(unexpected)}: " \
                           f"docs/architecture.md allows `{part}` only {sorted(table[part])}"


def test_the_folder_list_is_the_packages():
    listing = PAGE.read_text(encoding="utf-8").split("```")[1]
    listed = set(re.findall(r"^    ([a-z_]+(?:/|\.py))", listing, re.M))
    on_disk = {name + "/" if (PACKAGE / name).is_dir() else name
               for name in os.listdir(PACKAGE) if name != "__pycache__"}
    assert listed == on_disk
