"""Benchmarks of the notification path, run by hand (never as timed tests): management commands
bench_fanout, bench_streams and bench_e2e, which print tables of medians.

They compare our path with the stock django-eventstream setup, which is this app's
dependency alone: the app (and django_eventstream) is installed only in development
(DEBUG on) and in the servers bench_streams starts (BENCH_STOCK_EVENTSTREAM=1).
"""
