"""Start the app the way `make run` does and talk to it over HTTP.

migrate + seed_demo + uvicorn as subprocesses, on a SQLite file in a temporary directory and
without REDIS_URL (the embedded default). The server is always stopped.
"""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("smoke")


@pytest.fixture(scope="module")
def app_env(workdir):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TEST_DATABASE_NAME", "DJANGO_SETTINGS_MODULE"}}
    env.update(DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}", PYTHONUNBUFFERED="1", DEBUG="1")
    return env


def run(args, env, timeout=180):
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def server(app_env, workdir):
    run(["manage.py", "migrate", "--noinput"], app_env)
    seeded = run(["manage.py", "seed_demo", "--clients", "2", "--cleaners", "20"], app_env)
    assert "cleaner1 .. cleaner20" in seeded.stdout

    port = free_port()
    log_path = workdir / "uvicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=app_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                httpx.get(f"{base_url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"uvicorn did not answer within {STARTUP_TIMEOUT}s:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server, timeout=10) as client:
        yield client


def test_the_app_starts_and_answers(http):
    health = http.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "not configured"

    login = http.get("/admin/login/")
    assert login.status_code == 200
    assert login.headers["content-type"].startswith("text/html")
    assert "csrfmiddlewaretoken" in login.text

    docs = http.get("/api/docs/")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    # Swagger UI comes from the installed sidecar through WhiteNoise, not from a CDN.
    bundle = re.search(r'"([^"]*swagger-ui-bundle\.js)"', docs.text)
    assert bundle is not None and bundle.group(1).startswith("/static/"), docs.text[:1000]
    assert http.get(bundle.group(1)).status_code == 200

    schema = http.get("/api/schema/")
    assert schema.status_code == 200
    assert "openapi" in schema.text


def test_the_seeded_admin_can_log_in(http):
    from demo.management.commands.seed_demo import DEMO_PASSWORD

    page = http.get("/admin/login/")
    token = http.cookies["csrftoken"]
    response = http.post(
        "/admin/login/?next=/admin/",
        data={"username": "admin", "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"},
        headers={"Referer": str(page.url)},
    )
    assert response.status_code == 302, response.text[:500]
    admin_home = http.get("/admin/jobs/cleanerprofile/")
    assert admin_home.status_code == 200
    assert "cleaner20" in admin_home.text or "cleaner1" in admin_home.text
