"""The API's authentication: accounts' JWT authentication, with the user's usage-limit overrides
read in the same statement as the user (billing.limits checks them on every submit, and a
statement of its own would cost each submit a round trip).

DRF imports this module while `rest_framework.views` is being imported, so it must not import
anything that imports DRF's views (billing.limits does, through mlservice.errors).
"""

from accounts.authentication import JWTAuthentication, user_statement
from billing.models import Account


class UsageLimitsJWTAuthentication(JWTAuthentication):
    user_sql = user_statement(
        columns="a.rate_per_minute, a.rows_per_day",
        joins=f"LEFT JOIN {Account._meta.db_table} a ON a.user_id = u.id",
    )

    def user_loaded(self, user, extra: tuple) -> None:
        # (rate_per_minute, rows_per_day), None where the account keeps the default.
        user.usage_limit_overrides = extra
