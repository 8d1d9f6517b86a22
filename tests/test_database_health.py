"""Persistent connections are checked before reuse without a round trip to PostgreSQL."""

import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def count_cursors(monkeypatch) -> list:
    opened = []
    raw = connection.connection
    original = raw.cursor
    monkeypatch.setattr(raw, "cursor", lambda *a, **k: opened.append(1) or original(*a, **k))
    return opened


def test_a_healthy_idle_connection_is_reused_without_a_select_1(monkeypatch):
    connection.ensure_connection()
    opened = count_cursors(monkeypatch)
    assert connection.is_usable()
    assert opened == []  # the check polled the socket and sent nothing


def test_a_connection_the_server_terminated_is_found_unusable_and_replaced():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    dsn = f"postgres://postgres@127.0.0.1:5432/{settings.DATABASES['default']['NAME']}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)
    assert not connection.is_usable()

    connection.close_if_unusable_or_obsolete()
    connection.health_check_done = False
    with connection.cursor() as cursor:  # a request's first query reconnects
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_hand_written_statements_are_prepared_on_the_server_after_a_few_uses():
    from mlservice import rawsql

    def prepared() -> int:
        return rawsql.fetchone(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%41 + %"],
        )[0]

    for _ in range(settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] + 1):
        assert rawsql.fetchone("SELECT 41 + %s::int", [1]) == (42,)
    assert prepared() == 1
