"""Notification partitions for the months tests travel to (PostgreSQL; notifications/partitions.py).

Migrate creates this month's partition and the next few; tests that travel in time
(time_machine, 2026 to 2027) store notifications in other months, which need theirs too.
"""

from datetime import date

from notifications import partitions

TRAVEL_FIRST, TRAVEL_LAST = date(2026, 1, 1), date(2028, 1, 1)


def partitions_for_time_travel() -> None:
    partitions.partitions_ensure(first=TRAVEL_FIRST, last=TRAVEL_LAST)
