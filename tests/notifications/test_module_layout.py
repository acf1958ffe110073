"""The notifications package imports one way: no cycle, and no import hidden in a function to dodge one.

Writes that users make (services) record events; the pipeline (notifications/outbox/) delivers
them; the Celery tasks sit on top. A cycle would make the import order matter again.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

from devtools.processes import ROOT

PACKAGE = Path(ROOT) / "notifications"
# The modules of the pipeline and the ones around it: none may import inside a function.
NO_LATE_IMPORTS = ("services.py", "tasks.py", "plans.py", "outbox")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}


def imported_at_module_level(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found & known


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target, path + [target])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_notifications_modules_import_each_other_without_a_cycle():
    known = modules()
    graph = {name: imported_at_module_level(name, path, set(known)) - {name} for name, path in known.items()}

    assert graph["notifications.tasks"] >= {"notifications.services", "notifications.outbox.dispatch"}
    assert find_cycle(graph) is None


def test_no_pipeline_module_imports_inside_a_function():
    late = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if not any(part in NO_LATE_IMPORTS for part in path.relative_to(PACKAGE).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                late += [
                    f"{path.relative_to(PACKAGE)}:{inner.lineno}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Import | ast.ImportFrom)
                ]
    assert late == []


def test_services_load_without_the_tasks_and_the_tasks_load_first_too():
    # Each order in a fresh interpreter: a cycle shows up as an ImportError in one of them.
    services_first = (
        "import sys, django; django.setup(); import notifications.services; "
        "assert 'notifications.tasks' not in sys.modules, 'services pulled in the tasks'; print('ok')"
    )
    tasks_first = "import django; django.setup(); import notifications.tasks, notifications.services; print('ok')"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DEBUG": "true"}
    for script in (services_first, tasks_first):
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
