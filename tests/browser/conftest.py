"""Playwright (sync API) driving Debian's chromium against a real server, worker, PostgreSQL and Redis.

The `worker` and `live_server_url` fixtures come from tests/integration/conftest.py:
a real Celery worker and a real uvicorn server on the test database and TEST_REDIS_URL.
Data is created in each test with factories (transactional_db, so the server sees it).
"""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api  # a requirement: missing, the tests fail, never skip

from devtools.processes import Process
from tests.factories import PASSWORD
from tests.integration.conftest import (  # noqa: F401  (fixtures, re-exported for these tests)
    REDIS_URL,
    clean_redis,
    live_server_url,
    redis_client,
    shared_server,
    start_server,
    worker,
)


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
OUTSIDE = re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])")
# What the issue asks of live updates: within 2 seconds, without a reload.
LIVE_MS = 2000


@pytest.fixture(scope="package")
def browser():
    """One chromium for the browser tests only: closed (with Playwright's event loop) when they are done."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y --no-install-recommends chromium)")
    # Playwright's sync API keeps an event loop running in this thread, and Django refuses ORM
    # calls while one runs; the tests' own ORM calls are plain sync code, so allow them meanwhile.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_api.sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Person:
    """One user in their own browser context (own cookies), with one or more tabs."""

    def __init__(self, browser, base_url: str, user, *, phone: bool = False):
        self.user = user
        self.base_url = base_url
        options = {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True, "has_touch": True} if phone else {"viewport": LAPTOP}
        self.context = browser.new_context(base_url=base_url, **options)
        # Nothing leaves this machine: map tiles (and any other outside address) are refused.
        self.context.route(OUTSIDE, lambda route: route.abort())
        self.context.set_default_timeout(10_000)
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page = self.new_tab()

    def new_tab(self):
        page = self.context.new_page()
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def login(self, page=None):
        page = page or self.page
        page.goto("/login/")
        page.fill("#id_username", self.user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    def goto_live(self, path: str, page=None):
        """Open a page and wait until its stream is open."""
        page = page or self.page
        page.goto(path)
        playwright_api.expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=5000)
        return page

    def close(self):
        self.context.close()


@pytest.fixture
def people(browser):
    """people(base_url, user, phone=False) -> a logged-in Person; all closed at teardown."""
    opened: list[Person] = []

    def make(base_url, user, *, phone=False, login=True):
        person = Person(browser, base_url, user, phone=phone)
        opened.append(person)
        if login:
            person.login()
        return person

    yield make
    for person in opened:
        person.close()


def screenshot(page, name: str, *, full_page: bool = False) -> None:
    """Saved as docs/screenshots/<name>.png; a name may hold a folder ("first-hour/01-...")."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")


def start_server_on(tmp_path, port: int, name: str = "web-restartable") -> Process:
    """A uvicorn server on a chosen port, so it can be stopped and started again at the same address."""
    return start_server(tmp_path, name, port=port)[0]


@pytest.fixture
def publish_through_redis(settings, clean_redis):  # noqa: F811
    """This test process publishes like a worker does: through the real Redis."""
    settings.REDIS_URL = REDIS_URL


@pytest.fixture(autouse=True)
def fast_password_hashing():
    """Overrides the suite's MD5 hasher: the server process only knows Django's default hashers."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def show_worker_log_on_failure(request):
    """A failed live expectation is easier to read next to what the worker did."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "worker" in request.fixturenames:
        process = request.getfixturevalue("worker")
        print("\n--- worker log (tail) ---\n" + "\n".join(process.output().splitlines()[-60:]))
