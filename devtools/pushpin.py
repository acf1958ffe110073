"""A private Pushpin (GRIP proxy) in front of a local origin, on free ports, for tests and benchmarks.

Its configuration is deploy/pushpin/pushpin.conf with this run's ports, origin,
signing key and run/log directories (a short directory of its own under /tmp:
Pushpin's IPC socket paths have a length limit).
"""

from __future__ import annotations

import configparser
import random
import shutil
import socket
import tempfile
from pathlib import Path

import httpx

from devtools.processes import ROOT, NotReady, Process, free_port, wait_for

PUSHPIN_CONF = ROOT / "deploy" / "pushpin" / "pushpin.conf"
PUSHPIN_PARTS = ("handler", "proxy", "condure", "zurl")


def _ports_free(ports) -> bool:
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pushpin_port_offset() -> int:
    """An offset for Pushpin's four control ports (5560-5563 + offset) that are all free here."""
    for _ in range(200):
        offset = random.randrange(1000, 50000)
        if _ports_free(5560 + offset + i for i in range(4)):
            return offset
    raise NotReady("no free ports for Pushpin's control sockets")


def write_pushpin_config(directory, *, http_port: int, origin: str, sig_key: str, port_offset: int) -> Path:
    """deploy/pushpin/pushpin.conf with this run's ports, origin, key and private run/log directories."""
    directory = Path(directory)
    (directory / "run").mkdir(parents=True, exist_ok=True)
    (directory / "log").mkdir(parents=True, exist_ok=True)
    config = configparser.ConfigParser(interpolation=None)
    config.optionxform = str
    config.read(PUSHPIN_CONF)
    config["global"]["rundir"] = str(directory / "run")
    config["global"]["port_offset"] = str(port_offset)
    config["runner"]["http_port"] = str(http_port)
    config["runner"]["logdir"] = str(directory / "log")
    config["proxy"]["routesfile"] = str(directory / "routes")
    config["proxy"]["sig_key"] = sig_key
    (directory / "routes").write_text(f"* {origin}\n")
    path = directory / "pushpin.conf"
    with open(path, "w") as f:
        config.write(f)
    return path


class PushpinProcess(Process):
    """Pushpin; stopping it also removes its private directory."""

    directory: str = ""

    def stop(self, sig=None) -> None:
        super().stop(sig)
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_pushpin(log_dir, env: dict, *, origin_port: int, sig_key: str, http_port: int | None = None,
                  timeout: float = 30) -> tuple[PushpinProcess, str, str]:
    """Pushpin in front of 127.0.0.1:<origin_port>, once its four parts run and its control port answers:
    (process, client base URL, control URL to publish to, i.e. GRIP_URL)."""
    binary = shutil.which("pushpin")
    if binary is None:
        raise NotReady("pushpin is not installed (Debian: apt-get install -y pushpin)")
    http_port = http_port or free_port()
    offset = pushpin_port_offset()
    directory = tempfile.mkdtemp(prefix="pp-")
    conf = write_pushpin_config(directory, http_port=http_port, origin=f"127.0.0.1:{origin_port}", sig_key=sig_key, port_offset=offset)
    proxy = PushpinProcess("pushpin", [binary, "--config", str(conf), "--merge-output", "--port", f"127.0.0.1:{http_port}"], env, log_dir)
    proxy.directory = directory
    control = f"http://127.0.0.1:{5561 + offset}"

    def ready():
        if not proxy.alive:
            raise NotReady(f"pushpin exited:\n{proxy.output()[-3000:]}")
        out = proxy.output()
        if not all(f"[{part}] started" in out for part in PUSHPIN_PARTS):
            return False
        try:
            httpx.get(f"{control}/", timeout=1)
            return True
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, timeout=timeout, interval=0.1, what="pushpin started")
    except NotReady:
        proxy.stop()
        raise
    return proxy, f"http://127.0.0.1:{http_port}", control
