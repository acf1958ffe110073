"""bench_inbox end to end on a small table: load, reads, the fan-out and the table's indexes (PostgreSQL)."""

import pytest
from django.db import connection
from django.db.models import Count

from jobs.models import JobBid

from tests.bench.test_bench_app import run

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_inbox_loads_a_small_table_and_measures_it():
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    args = ["--rows", "400", "--users", "30", "--heavy-rows", "60", "--fanout", "20", "--fanout-runs", "1", "--samples", "3"]

    done = run(["manage.py", "bench_inbox", *args, "--skip-purge"], DEBUG="true", DATABASE_URL=url, REDIS_URL="")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "400 rows" in done.stdout
    assert "fan-out of 20:" in done.stdout and "index blocks read from outside shared_buffers" in done.stdout
    assert "one_seq_per_recipient" in done.stdout  # the index sizes
    assert "full-page images" in done.stdout  # each fan-out's WAL
    assert "Retention purge" not in done.stdout  # --skip-purge: the table stays as loaded
    # The load dropped and rebuilt the indexes: every partition has each of them again, as a fresh table's would.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), bool_and(indisvalid) FROM pg_index WHERE indrelid = 'notifications_notification'::regclass"
        )
        table_indexes, all_valid = cursor.fetchone()
        cursor.execute(
            "SELECT h.inhrelid::regclass::text, count(i.indexrelid) FROM pg_inherits h "
            "LEFT JOIN pg_index i ON i.indrelid = h.inhrelid WHERE h.inhparent = 'notifications_notification'::regclass GROUP BY 1"
        )
        per_partition = dict(cursor.fetchall())
    assert (table_indexes, all_valid) == (7, True)
    assert per_partition and set(per_partition.values()) == {7}, per_partition


def test_bench_inbox_times_only_the_fan_out_on_the_loaded_table():
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    args = ["--users", "30", "--fanout", "20", "--fanout-runs", "1", "--skip-load", "--skip-reads", "--skip-purge"]

    done = run(["manage.py", "bench_inbox", *args], DEBUG="true", DATABASE_URL=url, REDIS_URL="")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "fan-out of 20:" in done.stdout and "full-page images" in done.stdout
    assert "unread count" not in done.stdout  # --skip-reads


def test_bench_inbox_places_the_bids_from_several_processes_on_one_schedule():
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    # 20 cleaners for 33 bids (30 and a warm-up per process): the bids go on to the second job.
    args = ["--rows", "400", "--users", "60", "--heavy-rows", "60", "--fanout", "20", "--fanout-runs", "1", "--skip-reads",
            "--retention-rows", "50", "--bid-rate", "20", "--bid-seconds", "1.5", "--bid-processes", "3", "--bid-jobs", "2"]

    done = run(["manage.py", "bench_inbox", *args], DEBUG="true", DATABASE_URL=url, REDIS_URL="")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Bids at 20/s from 3 processes" in done.stdout
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| bids "))
    cells = lambda line: [cell.strip() for cell in line.split("|")[1:-1]]  # noqa: E731
    assert cells(lines[header]) == ["bids", "count", "rate/s", "p50 ms", "p99 ms", "max ms", "late p99 ms"]
    assert cells(lines[header + 2])[:2] == ["without the purge", "30"]  # 1.5 s at 20/s
    assert cells(lines[header + 3])[0] == "while the purge runs"
    per_process = next(line for line in lines if line.startswith("  without the purge: bids per process"))
    counts = [int(n) for n in per_process.split("bids per process ")[1].split(";")[0].split(", ")]
    assert len(counts) == 3 and sum(counts) == 30 and all(counts)  # every process placed some
    bids_per_job = JobBid.objects.values("job").annotate(n=Count("pk")).values_list("n", flat=True)
    assert len(bids_per_job) == 2 and max(bids_per_job) <= 20  # a cleaner bid once per job
    assert "Retention purge:" in done.stdout
