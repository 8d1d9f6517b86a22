"""Model instances from hand-written SQL, for the few statements on the prediction submit path.

Building a queryset costs more per statement than PostgreSQL takes to run these
(bench/profile_submit.py). `Columns` prepares the column list and
the field converters of a model once; `insert` writes a new instance the way `save()` would
(defaults, `auto_now_add`, the same value preparation) from a statement built once per model.
Everything else keeps using the ORM.

The statements run on a plain psycopg cursor of Django's connection (server-side parameter
binding, which psycopg prepares after a few uses) with Django's checks around it: the health
check, the broken-transaction check and Django's exception classes. They are not in
`connection.queries`.
"""

import contextlib
import functools

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections


def _connection():
    # The connection itself: every attribute read through `django.db.connection` looks the
    # connection up again in a context-local store, a cost paid per field here.
    return connections[DEFAULT_DB_ALIAS]


@contextlib.contextmanager
def cursor():
    """A server-side-binding psycopg cursor on Django's connection, inside its transaction."""
    db = _connection()
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as raw:
        yield raw


def fetchone(sql: str, params, *, binary: bool = False) -> tuple | None:
    """The first row. `binary` asks PostgreSQL for its binary format: a bytea column then
    arrives as is rather than hex-encoded, which matters for a batch's matrices."""
    with cursor() as raw:
        raw.execute(sql, params, binary=binary)
        return raw.fetchone()


class Columns:
    """A model's columns in a SELECT, and the instance built back from them (with the same
    conversions the ORM applies, e.g. JSON text to Python objects)."""

    def __init__(self, model, alias: str):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.attnames = [field.attname for field in self.fields]
        self.sql = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self.width = len(self.fields)
        self._converters = None

    def _prepare(self):
        if self._converters is None:
            converters = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(
                    connection
                )
                if found:
                    converters.append((index, column, found))
            self._converters = converters
        return self._converters

    def build(self, values):
        """The instance for this model's slice of a result row."""
        values = list(values[: self.width])
        db = _connection()
        for index, column, converters in self._prepare():
            for convert in converters:
                values[index] = convert(values[index], column, db)
        return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, values)


@functools.cache
def _insert_sql(model) -> tuple[str, tuple]:
    # A primary key the database generates (AutoField) is left out; one set in Python is not.
    pk = model._meta.pk
    fields = tuple(f for f in model._meta.concrete_fields if f is not pk or pk.has_default())
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {model._meta.db_table} ({names}) VALUES ({marks})", fields


def _params(instance, fields) -> list:
    db = _connection()
    return [
        field.get_db_prep_save(field.pre_save(instance, True), connection=db) for field in fields
    ]


def insert(instance) -> None:
    """INSERT a new instance whose primary key is set in Python (e.g. a UUID default)."""
    sql, fields = _insert_sql(type(instance))
    with cursor() as raw:
        raw.execute(sql, _params(instance, fields))
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS


def insert_many(instances: list) -> None:
    """INSERT new instances of one model in one pipelined round of statements. (Django's
    bulk_create sends them as UNNEST arrays, whose text escaping of large values is slow for
    a batch's chunks.) Generated keys are not read back."""
    if not instances:
        return
    sql, fields = _insert_sql(type(instances[0]))
    with cursor() as raw:
        raw.executemany(sql, [_params(instance, fields) for instance in instances])
