"""The benchmarks are a development tool: production settings leave them (and their
django-eventstream baseline) out; development settings offer their commands.

Each case loads the settings in a fresh process, as `manage.py` would with that environment.
"""

import os
import subprocess
import sys

from devtools.processes import ROOT

PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "x" * 50, "DATABASE_URL": "sqlite:///:memory:", "REDIS_URL": ""}
SHOW = (
    "import django; django.setup(); from django.conf import settings; from django.urls import resolve, Resolver404\n"
    "apps = [a for a in settings.INSTALLED_APPS if a in ('bench', 'django_eventstream')]\n"
    "try:\n    resolve('/stock-events/'); stock = 'mounted'\nexcept Resolver404:\n    stock = 'absent'\n"
    "print(apps, stock, getattr(settings, 'EVENTSTREAM_CHANNELMANAGER_CLASS', None))\n"
)


def run(args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != "BENCH_STOCK_EVENTSTREAM"}, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
    )


def test_production_settings_install_neither_the_bench_nor_django_eventstream():
    done = run(["-c", SHOW], **PRODUCTION)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] absent None"


def test_development_settings_install_the_bench_with_its_baseline_but_mount_no_stock_view():
    done = run(["-c", SHOW], DEBUG="true", DATABASE_URL="sqlite:///:memory:", REDIS_URL="")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['django_eventstream', 'bench'] absent None"


def test_a_bench_streams_server_mounts_the_stock_view_with_the_bench_channel_manager():
    done = run(["-c", SHOW], **{**PRODUCTION, "REDIS_URL": "redis://127.0.0.1:6422/3", "BENCH_STOCK_EVENTSTREAM": "1"})

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['django_eventstream', 'bench'] mounted bench.stock.StockChannelManager"


def test_the_bench_commands_answer_help_in_development():
    commands = (("bench_fanout", "--recipients"), ("bench_streams", "--connections"), ("bench_e2e", "--connections"), ("bench_inbox", "--rows"))
    for command, option in commands:
        done = run(["manage.py", command, "--help"], DEBUG="true", DATABASE_URL="sqlite:///:memory:", REDIS_URL="")

        assert done.returncode == 0, done.stderr
        assert option in done.stdout


def test_the_product_never_imports_test_code_or_developer_tools():
    """jobs, notifications and project import neither tests/ nor devtools/; only the settings know bench/."""
    import ast

    offenders = []
    for package in ("jobs", "notifications", "project"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                for name in names:
                    top = name.split(".")[0]
                    if top in ("tests", "devtools") or (top == "bench" and path != ROOT / "project" / "settings.py"):
                        offenders.append(f"{path.relative_to(ROOT)}: {name}")

    assert offenders == []
