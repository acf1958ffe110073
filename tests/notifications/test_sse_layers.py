"""notifications/sse/ is layered: a module imports only from the layers below it (so no cycles)."""

import ast
from pathlib import Path

import notifications.sse

# Bottom to top, as drawn in the package docstring.
LAYERS = [
    "database", "sequence", "gc_policy", "gc_pauses", "channels", "frames", "credentials", "opening", "hub", "transports",
    "limits", "revocation", "publishing", "grip", "endpoint",
]


def package_imports(path: Path) -> set[str]:
    """The sibling modules a module imports (`from . import x`, `from .x import y`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
    return found


def test_every_module_is_in_a_layer():
    package = Path(notifications.sse.__file__).parent
    assert {p.stem for p in package.glob("*.py")} - {"__init__"} == set(LAYERS)


def test_no_module_imports_its_own_layer_or_one_above():
    package = Path(notifications.sse.__file__).parent
    upward = {
        (module, imported)
        for module in LAYERS
        for imported in package_imports(package / f"{module}.py")
        if LAYERS.index(imported) >= LAYERS.index(module)
    }
    assert upward == set()


def test_the_package_docstring_draws_every_layer():
    for module in LAYERS:
        assert module in notifications.sse.__doc__, module
