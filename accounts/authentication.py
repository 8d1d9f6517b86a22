"""JWT authentication for every API request, at a fraction of simplejwt's cost per request.

- A validated access token is remembered by its exact bytes until it expires: a client sends the
  same token for minutes, and decoding and checking it again costs more than the query below.
  Expiry is still checked on every request; access tokens are not blacklisted (simplejwt checks
  the blacklist on refresh tokens only), so nothing else can change a token's validity.
- The user is one prepared statement instead of a queryset. A higher layer that needs a row of
  its own about the user on every request (billing's usage limits) subclasses this class with
  `user_statement(...)` joining its table, so the request still costs one statement. The checks
  are simplejwt's: the user must exist and be active.
"""

import time

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts.models import User
from mlservice import rawsql

USER = rawsql.Columns(User, "u")


def user_statement(*, columns: str = "", joins: str = "") -> str:
    """The statement that loads a user by id (alias `u`), with extra `columns` from `joins`."""
    extra = f", {columns}" if columns else ""
    return f"SELECT {USER.sql}{extra} FROM {User._meta.db_table} u {joins} WHERE u.id = %s"


VALIDATED_TOKENS_MAX = 10_000
_validated_tokens: dict[bytes, object] = {}


class JWTAuthentication(SimpleJWTAuthentication):
    user_sql = user_statement()

    def get_validated_token(self, raw_token):
        token = _validated_tokens.get(raw_token)
        if token is not None and time.time() < token["exp"]:
            return token
        token = super().get_validated_token(raw_token)  # 401 when invalid or expired
        if len(_validated_tokens) >= VALIDATED_TOKENS_MAX:
            _validated_tokens.clear()
        _validated_tokens[raw_token] = token
        return token

    def get_user(self, validated_token):
        if api_settings.USER_ID_FIELD != "id" or api_settings.CHECK_REVOKE_TOKEN:
            return super().get_user(validated_token)
        try:
            user_id = int(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError):
            raise InvalidToken(_("Token contained no recognizable user identification")) from None
        row = rawsql.fetchone(self.user_sql, [user_id])
        if row is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        user = USER.build(row)
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        self.user_loaded(user, row[USER.width :])
        return user

    def user_loaded(self, user, extra: tuple) -> None:
        """Called with the values of a subclass's extra columns for the user just loaded."""


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of this class and its subclasses: simplejwt's bearer JWT."""

    target_class = JWTAuthentication
    match_subclasses = True
