"""Cursors whose statements PostgreSQL plans once per connection, for the hot paths' fixed SQL.

PostgreSQL parses and plans every statement it is sent. For the bid's job lookup that is
0.2-0.3 ms of planning against 0.03-0.07 ms of running it (EXPLAIN ANALYZE, warm session);
a bid and its notification send about ten such statements. Django's cursors put the values
into the SQL text on the client, so every text is new to the server and nothing can be kept.
These cursors send the values apart and prepare each statement on first use: psycopg names
and keeps it per connection (up to its prepared_max), and after five runs PostgreSQL keeps
a generic plan. Pooled connections live for minutes, so a statement is planned a few times
per connection instead of on every request.

Only for SQL whose text is fixed per shape (CompiledQuery, the few raw statements of the
bid and stream paths): every distinct text becomes a statement kept on each connection.
Not behind a connection pooler that moves sessions between transactions (PgBouncer's
transaction mode): a prepared statement lives on one server session.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


def cursor(using: str = DEFAULT_DB_ALIAS):
    """A Django cursor (error wrapping, query logging as usual) that prepares what it runs on PostgreSQL."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        # Preparing is on for the connection (OPTIONS prepare_threshold 0, project/settings.py);
        # only server-binding cursors like this one ever prepare: Django's own bind on the client.
        prepared = ServerBindingCursor(connection.connection)
    return _LoggedCursor(prepared, connection) if connection.queries_logged else connection.make_cursor(prepared)


class _LoggedCursor(CursorDebugWrapper):
    """Logs (DEBUG, the tests' query capture) the statement as Django's own cursors would: values in.

    Django reads it back from a client-binding cursor, which has it whole; this one sent the
    values apart, so the logged text is composed here, as Django does for server-side binding.
    """

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params) if params else sql, params):
            return CursorWrapper.execute(self, sql, params)
