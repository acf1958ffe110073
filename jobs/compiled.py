"""A query compiled once per shape, its values filled in per call.

Building and compiling a rich queryset (expressions, EXISTS subqueries) costs milliseconds
of CPU, yet its SQL text depends only on the query's *shape* (how long its IN lists are,
which optional conditions it has, the time zone), never on its values: those are params.
So the queryset is built by the ordinary ORM code, once per shape and process, from
stand-in values, and later calls put their own values at the stand-ins' positions.

The stand-ins are unlikely values of each input's type. Compiling twice with two sets of
them proves the shortcut sound for that shape: the SQL text must be the same, and each
param must be a stand-in of the same input both times, or a constant equal both times.
A value that reached the SQL text or was transformed by Django on its way to the params
fails that check (ShapeError) instead of making a wrong query. What it cannot see is a
build function that branches on a value: it must branch only on what the shape holds.

PostgreSQL only: SQLite (the embedded default) turns datetimes into text on their way to
the params, so there the ORM builds the queryset on every call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Callable

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import QuerySet
from django.db.models.query import FlatValuesListIterable, ModelIterable, get_related_populators
from django.db.transaction import TransactionManagementError

from project import prepared

# An input: a scalar of one of these types, or a tuple of them (an IN list: its length is shape).
_SCALARS = (int, float, str, datetime, date)  # datetime before date, its base class


class ShapeError(Exception):
    """The queryset's SQL depends on an input's value, or Django transformed a value on its way to the params."""


@dataclass(frozen=True)
class _Slot:
    name: str
    index: int | None  # position in a tuple input, None for a scalar
    wrap: type | None = None  # the param's own type when Django wraps the value (psycopg's Int4 for an integer column)

    def fill(self, values: dict):
        value = values[self.name] if self.index is None else values[self.name][self.index]
        return value if self.wrap is None else self.wrap(value)


def _stand_in(kind: type, set_no: int, k: int):
    if kind is int:
        return 7_340_000_000_000 + set_no * 100_000 + k
    if kind is float:
        return 7_340_000.5 + set_no * 1000 + k / 64
    if kind is str:
        return f"~stand-in {set_no}.{k}~"
    if kind is datetime:
        return datetime(1907 + set_no, 1 + k % 12, 1 + k // 12 % 28, 0, 0, 0, 7 + k, tzinfo=UTC)
    if kind is date:
        return date(1907 + set_no, 1 + k % 12, 1 + k // 12 % 28)
    raise ShapeError(f"no stand-in for a {kind.__name__} input")


def _kind(value) -> type:
    for kind in _SCALARS:
        if type(value) is kind:
            if kind is datetime and value.utcoffset() is None:
                raise ShapeError("a naive datetime: Django would make it aware on its way to the params")
            return kind
    raise ShapeError(f"inputs are int, float, str, aware datetime, date or tuples of them, not {type(value).__name__}")


def _stand_ins(values: dict, set_no: int) -> tuple[dict, dict]:
    """Stand-in inputs shaped as `values`, and each stand-in's (kind, value) -> slot."""
    stand_ins, slots, k = {}, {}, 0
    for name, value in values.items():
        if isinstance(value, tuple):
            items = []
            for index, item in enumerate(value):
                stand_in = _stand_in(_kind(item), set_no, k)
                slots[(type(stand_in), stand_in)] = _Slot(name, index)
                items.append(stand_in)
                k += 1
            stand_ins[name] = tuple(items)
        else:
            stand_in = _stand_in(_kind(value), set_no, k)
            slots[(type(stand_in), stand_in)] = _Slot(name, None)
            stand_ins[name] = stand_in
            k += 1
    return stand_ins, slots


def _slot_or_constant(param, slots: dict):
    for kind in _SCALARS:
        if isinstance(param, kind) and not isinstance(param, bool):
            slot = slots.get((kind, param if kind in (datetime, date) else kind(param)))
            if slot is None:
                return param
            return slot if type(param) is kind else _Slot(slot.name, slot.index, type(param))
    return param


def _shape(values: dict) -> tuple:
    return tuple(
        (name, tuple(map(_kind, value)) if isinstance(value, tuple) else _kind(value)) for name, value in values.items()
    )


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple  # each a _Slot (filled per call) or a constant
    model: type
    using: str
    for_update: bool
    field_names: tuple[str, ...]  # the model's columns, first in each row
    annotations: tuple[str, ...]  # then these, set as attributes
    # Django's own row handling, as ModelIterable does it: select_related's models, database-to-Python converters.
    related: tuple = field(compare=False)
    converters: tuple = field(compare=False)  # (column, converter functions, expression)
    flat: bool = False  # a values_list(<one field>, flat=True): each row's one value


def _instance(compiled: _Compiled, row):
    n = len(compiled.field_names)
    instance = compiled.model.from_db(compiled.using, compiled.field_names, row[:n])
    for name, value in zip(compiled.annotations, row[n:]):
        setattr(instance, name, value)
    for populator in compiled.related:
        populator.populate(row, instance)
    return instance


class CompiledQuery:
    """`build(values)` -> a queryset of one model's rows (first, all) or of one column (flat: a
    values_list(..., flat=True)), compiled once per shape (thread-safe).

    `extra_shape()` names what else, besides the inputs' types and tuple lengths, the SQL
    text depends on (e.g. the current time zone); it is read on every call.
    """

    def __init__(self, build: Callable[[dict], QuerySet], *, extra_shape: Callable[[], object] = lambda: None):
        self._build = build
        self._extra_shape = extra_shape
        self._by_shape: dict[tuple, _Compiled] = {}
        self._lock = threading.Lock()

    def prepare(self, values: dict) -> None:
        """Compile the shape of `values` now and run it once, so that this connection's PostgreSQL
        has it prepared (project/prepared.py): a process warming up, so that no caller pays for
        either. For a locking query, `values` that match no row."""
        if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
            # A select_for_update query compiles and runs only inside a transaction (Django checks it there).
            with transaction.atomic():
                compiled = self._compiled(values)
                self._execute(compiled, values, one=True)

    def first(self, values: dict):
        """The first row as a model instance (annotations as attributes), or None."""
        if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
            # SQLite (the embedded default) turns datetimes into text on their way to the params,
            # which the stand-in check cannot follow (ShapeError); there the ORM builds it each time.
            return self._build(values).first()
        compiled = self._compiled(values)
        if compiled.flat:
            raise ShapeError("a values_list(flat=True) queryset: read it with flat()")
        rows = self._execute(compiled, values, one=True)
        return _instance(compiled, rows[0]) if rows else None

    def all(self, values: dict) -> list:
        """Every row as a model instance (annotations as attributes)."""
        if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
            return list(self._build(values))  # as in first()
        compiled = self._compiled(values)
        if compiled.flat:
            raise ShapeError("a values_list(flat=True) queryset: read it with flat()")
        return [_instance(compiled, row) for row in self._execute(compiled, values, one=False)]

    def flat(self, values: dict) -> list:
        """Every row's one value, from a values_list(<one field>, flat=True) queryset."""
        if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
            return list(self._build(values))  # as in first()
        compiled = self._compiled(values)
        if not compiled.flat:
            raise ShapeError("a queryset of model rows: read it with first() or all()")
        return [value for (value,) in self._execute(compiled, values, one=False)]

    def _execute(self, compiled: _Compiled, values: dict, *, one: bool) -> list:
        """The rows (one at most if `one`), each converted as Django converts its columns."""
        connection = connections[compiled.using]
        if compiled.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = [p.fill(values) if type(p) is _Slot else p for p in compiled.params]
        with prepared.cursor(compiled.using) as cursor:
            cursor.execute(compiled.sql, params)
            rows = [row for row in [cursor.fetchone()] if row is not None] if one else cursor.fetchall()
        if compiled.converters:
            rows = [list(row) for row in rows]
            for row in rows:
                for column, functions, expression in compiled.converters:
                    for convert in functions:
                        row[column] = convert(row[column], expression, connection)
        return rows

    def _compiled(self, values: dict) -> _Compiled:
        shape = (_shape(values), self._extra_shape())
        compiled = self._by_shape.get(shape)
        if compiled is None:
            with self._lock:  # one build per shape; readers never wait on a built one
                compiled = self._by_shape.get(shape)
                if compiled is None:
                    compiled = self._by_shape[shape] = self._compile(values)
        return compiled

    def _compile(self, values: dict) -> _Compiled:
        first, second = (self._compile_with(values, set_no) for set_no in (1, 2))
        if first != second:
            raise ShapeError(f"the SQL is not the same for two sets of stand-ins:\n{first}\n{second}")
        return first

    def _compile_with(self, values: dict, set_no: int) -> _Compiled:
        stand_ins, slots = _stand_ins(values, set_no)
        queryset = self._build(stand_ins)
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        # A stand-in in a param's place: a slot; anything else must be a constant (checked by comparing sets).
        filled = tuple(_slot_or_constant(p, slots) for p in params)
        converters = tuple(
            (column, tuple(functions), expression)
            for column, (functions, expression) in compiler.get_converters([s[0] for s in compiler.select]).items()
        )
        if queryset._iterable_class is not ModelIterable:  # values(), values_list(): no model rows
            if queryset._iterable_class is not FlatValuesListIterable or len(compiler.select) != 1:
                raise ShapeError("a values queryset must be values_list(<one field>, flat=True)")
            return _Compiled(
                sql=sql, params=filled, model=queryset.model, using=queryset.db, for_update=queryset.query.select_for_update,
                field_names=(), annotations=(), related=(), converters=converters, flat=True,
            )
        select_fields = compiler.klass_info["select_fields"]
        if select_fields != list(range(len(select_fields))):
            raise ShapeError("the model's columns must come first")
        columns = sorted(compiler.annotation_col_map.items(), key=lambda item: item[1])
        if [index for _name, index in columns] != list(range(len(select_fields), len(select_fields) + len(columns))):
            raise ShapeError("the annotations must follow the model's columns")
        return _Compiled(
            sql=sql,
            params=filled,
            model=queryset.model,
            using=queryset.db,
            for_update=queryset.query.select_for_update,
            field_names=tuple(compiler.select[i][0].target.attname for i in select_fields),
            annotations=tuple(name for name, _index in columns),
            related=tuple(get_related_populators(compiler.klass_info, compiler.select, queryset.db)),
            converters=converters,
        )
