"""bench_push runs end to end on a tiny load: a real push service process, every push sent, a table printed."""

from io import StringIO

from django.core.management import call_command


def test_bench_push_prints_a_row_per_thread_count_with_nothing_failed(settings):
    out = StringIO()
    call_command("bench_push", pushes=30, threads="1,4", browsers=3, stdout=out)

    rows = [line for line in out.getvalue().splitlines() if line.startswith("|") and line.split("|")[1].strip().isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["1", "4"]
    assert all(row.split("|")[5].strip() == "0" for row in rows)  # failed
