"""The collector's pauses in /metrics (notifications/sse/gc_pauses.py)."""

import gc

from prometheus_client import REGISTRY

from notifications.sse.gc_pauses import GcPauseProbe


def pauses_recorded(generation: int) -> float:
    return REGISTRY.get_sample_value("python_gc_pause_seconds_count", {"generation": str(generation)}) or 0.0


def pause_cpu_seconds(generation: int) -> float:
    return REGISTRY.get_sample_value("python_gc_pause_cpu_seconds_total", {"generation": str(generation)}) or 0.0


def collect_watched(generation: int) -> GcPauseProbe:
    """One collection of `generation` with a probe installed; the probe, not yet flushed."""
    probe = GcPauseProbe()
    probe.install()
    try:
        gc.collect(generation)
    finally:
        probe.uninstall()
    return probe


def test_a_full_collection_shows_as_a_pause_of_the_oldest_generation_with_its_cpu_time():
    before, cpu_before = pauses_recorded(2), pause_cpu_seconds(2)
    probe = collect_watched(2)
    assert pauses_recorded(2) == before  # recorded, not yet in the histogram: the callback takes no lock
    assert probe.flush() >= 1
    assert pauses_recorded(2) >= before + 1
    assert pause_cpu_seconds(2) > cpu_before  # walking this test process's objects takes CPU


def test_a_young_pass_is_timed_but_its_cpu_is_not_read():
    # Young passes come by the thousand per second while streams open; the CPU clock costs 2 us a read.
    before, cpu_before = pauses_recorded(0), pause_cpu_seconds(0)
    collect_watched(0).flush()
    assert pauses_recorded(0) >= before + 1
    assert pause_cpu_seconds(0) == cpu_before


def test_an_uninstalled_probe_records_nothing():
    probe = GcPauseProbe()
    probe.install()
    probe.uninstall()
    gc.collect(2)
    assert probe.flush() == 0
