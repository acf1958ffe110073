"""The benchmark's worker, web server and Pushpin: devtools' starters with the bench's log files
($TMPDIR/bench-<name>-<pid>.log), uvicorn's deep accept backlog, and a CommandError when one fails."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import CommandError

from devtools import processes
from devtools.pushpin import start_pushpin as _start_pushpin
from devtools.processes import NotReady, Process

LOG_DIR = Path(os.environ.get("TMPDIR", "/tmp"))


@contextmanager
def _as_command_error():
    try:
        yield
    except NotReady as exc:
        raise CommandError(str(exc)) from exc


def _env(env: dict | None) -> dict:
    return {**os.environ, **(env or {})}


def start_worker(concurrency: int = 2, env: dict | None = None) -> Process:
    with _as_command_error():
        return processes.start_worker(LOG_DIR, _env(env), name=f"bench-worker-{os.getpid()}", concurrency=concurrency)


def start_server(port: int | None = None, env: dict | None = None, extra_args: tuple[str, ...] = ()) -> tuple[Process, str]:
    with _as_command_error():
        return processes.start_web(LOG_DIR, _env(env), port=port, name=f"bench-web-{os.getpid()}", graceful_shutdown=2,
                                   extra_args=("--backlog", "16384", *extra_args))


def start_pushpin(origin_port: int, sig_key: str, http_port: int | None = None) -> tuple[Process, str, str]:
    """Pushpin in front of 127.0.0.1:<origin_port>: (process, client base URL, GRIP_URL for publishing)."""
    with _as_command_error():
        return _start_pushpin(LOG_DIR, _env(None), origin_port=origin_port, sig_key=sig_key, http_port=http_port)
