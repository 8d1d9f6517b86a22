"""PostgreSQL backend whose connection health check costs no round trip.

With CONN_HEALTH_CHECKS, Django runs `SELECT 1` before the first query of every request that
reuses a persistent connection: a round trip of its own on every request. A connection
the server has closed (restart, pg_terminate_backend, idle timeout) is readable while idle: it
holds the server's farewell message or EOF. So the check is a zero-timeout poll of the socket,
and only a readable socket pays for Django's `SELECT 1`, which then decides.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        if self.connection is None or self.connection.closed or self.connection.broken:
            return False
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or super().is_usable()
