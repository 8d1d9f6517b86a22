"""JWT authentication whose user lookup is one prepared statement instead of a queryset.

It runs on every API request; the queryset simplejwt builds costs more than the query
(see mlservice/rawsql.py). The checks are simplejwt's: the user must exist and be active.
"""

from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts.models import User
from mlservice.rawsql import Columns

USER = Columns(User, "u")
USER_SQL = f"SELECT {USER.sql} FROM {User._meta.db_table} u WHERE u.id = %s"


class JWTAuthentication(SimpleJWTAuthentication):
    def get_user(self, validated_token):
        if api_settings.USER_ID_FIELD != "id" or api_settings.CHECK_REVOKE_TOKEN:
            return super().get_user(validated_token)
        try:
            user_id = int(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError):
            raise InvalidToken(_("Token contained no recognizable user identification")) from None
        with connection.cursor() as cursor:
            cursor.execute(USER_SQL, [user_id])
            row = cursor.fetchone()
        if row is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        user = USER.build(row)
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        return user


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of this class: simplejwt's bearer JWT."""

    target_class = JWTAuthentication
