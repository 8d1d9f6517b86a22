"""Writes on users: registration, profile and password changes, logout."""

from django.contrib.auth import password_validation
from django.db import IntegrityError, transaction
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import User
from mlservice.errors import ServiceError


def _email_taken(email: str, *, exclude_pk=None) -> bool:
    qs = User.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return bool(email) and qs.exists()


def _duplicate(field: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        {field: [f"A user with that {field} already exists."]}, code="unique"
    )


@transaction.atomic
def user_create(*, username: str, email: str, password: str) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise _duplicate("username")
    if _email_taken(email):
        raise _duplicate("email")
    user = User(username=username, email=email)
    try:
        password_validation.validate_password(password, user)
    except Exception as exc:  # django.core.exceptions.ValidationError
        raise exceptions.ValidationError({"password": list(exc.messages)}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # lost a race with a concurrent registration
        field = "email" if "email" in str(exc) else "username"
        raise _duplicate(field) from exc
    return user


@transaction.atomic
def user_update(*, user: User, email: str) -> User:
    if _email_taken(email, exclude_pk=user.pk):
        raise _duplicate("email")
    user.email = email
    user.save(update_fields=["email"])
    return user


def user_change_password(*, user: User, old_password: str, new_password: str) -> None:
    if not user.check_password(old_password):
        raise exceptions.ValidationError(
            {"old_password": ["The current password is not correct."]}, code="wrong_password"
        )
    try:
        password_validation.validate_password(new_password, user)
    except Exception as exc:
        raise exceptions.ValidationError({"new_password": list(exc.messages)}) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])


def user_logout(*, user: User, refresh: str) -> None:
    """Blacklist the refresh token so it can neither refresh nor be rotated again."""
    try:
        token = RefreshToken(refresh)
    except TokenError as exc:
        raise ServiceError(
            "The refresh token is invalid or expired.", code="token_not_valid"
        ) from exc
    if str(token.get("user_id")) != str(user.pk):
        raise ServiceError("The refresh token belongs to another user.", code="token_not_valid")
    token.blacklist()


def refresh_token_rotate(*, refresh: RefreshToken) -> dict[str, str]:
    """Trade a verified refresh token for a new pair, at most once.

    simplejwt's rotation checks the blacklist and then writes it, so concurrent refreshes with
    one token all succeed. Here the old token is blacklisted first, and the unique constraint
    on BlacklistedToken.token decides: only the request whose insert commits gets a new pair.
    """
    user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
    user = User.objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
        raise exceptions.AuthenticationFailed(
            "No active account found for the given token.", "no_active_account"
        )
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=refresh.payload[api_settings.JTI_CLAIM],
        defaults={
            "user": user,
            "created_at": refresh.current_time,
            "token": str(refresh),
            "expires_at": datetime_from_epoch(refresh.payload["exp"]),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        raise TokenError("Token is blacklisted") from None
    data = {"access": str(refresh.access_token)}
    refresh.set_jti()
    refresh.set_exp()
    refresh.set_iat()
    refresh.outstand()
    data["refresh"] = str(refresh)
    return data
