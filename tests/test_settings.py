"""Settings read from the environment refuse values that would break the app."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_settings(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.WEB_MAX_CONCURRENT_REQUESTS)"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("value", ["0", "-3", "many", ""])
def test_a_request_limit_that_would_let_nothing_in_is_refused_at_startup(value):
    result = load_settings(WEB_MAX_CONCURRENT_REQUESTS=value)
    assert result.returncode != 0
    assert "WEB_MAX_CONCURRENT_REQUESTS must be a whole number of at least 1" in result.stderr


def test_the_request_limit_is_taken_from_the_environment():
    result = load_settings(WEB_MAX_CONCURRENT_REQUESTS="7")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"
