"""Check PostgreSQL and Redis before serving, and create the database if it is missing.

`make run` calls this first so a new user sees one clear sentence instead of a traceback.
"""

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql

from mlservice.redis import redis_connection

PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'
)


def _redact(url: str) -> str:
    """Hide a password in a URL before printing it."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


class Command(BaseCommand):
    help = "Check that PostgreSQL and Redis answer; create the configured database if missing."

    def handle(self, *args, **options):
        self._database()
        self._redis()
        self.stdout.write(self.style.SUCCESS("PostgreSQL and Redis are reachable."))

    def _connect_kwargs(self, dbname: str) -> dict:
        db = settings.DATABASES["default"]
        kwargs = {
            "dbname": dbname,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "connect_timeout": 5,
        }
        return {k: v for k, v in kwargs.items() if v is not None}

    def _database(self) -> None:
        name = settings.DATABASES["default"]["NAME"]
        url = _redact(settings.DATABASE_URL)
        try:
            psycopg.connect(**self._connect_kwargs(name)).close()
            return
        except psycopg.OperationalError as exc:
            if f'database "{name}" does not exist' not in str(exc):
                raise CommandError(
                    f"Cannot reach PostgreSQL at {url}: {str(exc).strip().splitlines()[-1]}\n"
                    f"Start it (on this machine: {PG_START}) or set DATABASE_URL."
                ) from None
        try:
            with psycopg.connect(**self._connect_kwargs("postgres"), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise CommandError(f"Could not create database {name!r} at {url}: {exc}") from None
        self.stdout.write(f"Created database {name!r}.")

    def _redis(self) -> None:
        try:
            redis_connection().ping()
        except Exception as exc:
            raise CommandError(
                f"Cannot reach Redis at {_redact(settings.REDIS_URL)}: {exc}\n"
                f"Start it (on this machine: {REDIS_START}) or set REDIS_URL."
            ) from None
