"""What the benchmarks measure of the machine: memory and threads (Linux /proc), process trees,
open files, PostgreSQL connections, sampled in a thread while a run goes on."""

import os
import threading
from pathlib import Path


# --- memory (Linux /proc) ----------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmHWM") / 1024


def reset_peak_rss(pid: int) -> None:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_count(pid: int) -> int:
    return _status_kb(pid, "Threads")


# --- file descriptors, process trees, PostgreSQL connections ------------------------------


def raise_nofile(limit: int = 65536) -> int:
    """Raise RLIMIT_NOFILE for this process and the children it starts (10,000 streams need > 20,000 fds)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= limit:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(hard, limit)))  # raising hard needs root
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        out.extend(int(c) for c in children)
        todo.extend(int(c) for c in children)
    return out


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (Pushpin runs four)."""
    return sum(rss_mb(p) for p in [pid, *descendants(pid)])


def tree_threads(pid: int) -> int:
    return sum(thread_count(p) for p in [pid, *descendants(pid)])


def pg_connections() -> int:
    """Connections to this database other than the one asking (the benchmark's own)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


class Sampler:
    """Calls a function every `interval` seconds in a thread; keeps the values."""

    def __init__(self, fn, interval: float = 0.5):
        self.fn, self.interval, self.values = fn, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            while not self._stop.is_set():
                try:
                    self.values.append(self.fn())
                except Exception:  # noqa: BLE001 - a missed sample is not worth stopping a run
                    pass
                self._stop.wait(self.interval)
        finally:
            from django.db import connections

            connections.close_all()  # this thread's: a pooled one would stay borrowed after the thread ends

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def gc_pause_buckets(base_url: str) -> dict[tuple[str, float | str], float]:
    """The server's collector pauses from its /metrics: (generation, le) -> cumulative count of
    `python_gc_pause_seconds`, and (generation, "wall") / (generation, "cpu") -> seconds in all."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            generation = sample.labels.get("generation")
            if sample.name == "python_gc_pause_seconds_bucket":
                found[(generation, float(sample.labels["le"]))] = sample.value
            elif sample.name == "python_gc_pause_seconds_sum":
                found[(generation, "wall")] = sample.value
            elif sample.name == "python_gc_pause_cpu_seconds_total":
                found[(generation, "cpu")] = sample.value
    return found


def gc_pauses_between(before: dict, after: dict) -> dict[str, dict[float | str, float]]:
    """Pauses per generation between two readings: {generation: {bucket upper bound: pauses in that
    bucket, "wall": seconds, "cpu": CPU seconds}}."""
    by_generation: dict[str, dict] = {}
    for (generation, key), value in sorted(after.items(), key=lambda item: (item[0][0], str(type(item[0][1])), item[0][1])):
        pauses = by_generation.setdefault(generation, {})
        change = value - before.get((generation, key), 0.0)
        if isinstance(key, str):
            pauses[key] = change
        else:
            pauses[key] = int(change) - sum(n for le, n in pauses.items() if not isinstance(le, str))
    return by_generation
