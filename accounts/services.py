"""Writes on users: registration, profile and password changes, login sessions and logout."""

import django_rq
from django.contrib.auth import password_validation
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import User
from mlservice.errors import ServiceError

# When the login that started a refresh chain happened (the OpenID Connect claim name). Rotation
# carries it over, so a chain ends REFRESH_TOKEN_LIFETIME after its login however often it turns.
AUTH_TIME_CLAIM = "auth_time"


def _duplicate_username() -> exceptions.ValidationError:
    return exceptions.ValidationError(
        {"username": ["A user with that username already exists."]}, code="unique"
    )


def _notify_other_owners(*, email: str, user: User, subject: str, message: str) -> None:
    """Tell the other accounts that gave `email` that someone else just used it too.

    Sent by a worker after commit, so the answer takes the same time whether or not the address
    was in use: the response never says it, the address's owner hears of it.
    """
    others = User.objects.filter(email__iexact=email).exclude(pk=user.pk)
    if not email or not others.exists():
        return
    queue = django_rq.get_queue("default")
    body = message.format(username=user.username)
    transaction.on_commit(
        lambda: queue.enqueue(send_mail, subject, body, None, [email]), robust=True
    )


@transaction.atomic
def user_create(*, username: str, email: str, password: str) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise _duplicate_username()
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
        raise _duplicate_username() from exc
    _notify_other_owners(
        email=email,
        user=user,
        subject="A new account gave your email address",
        message=(
            "An account named {username} was just registered with this email address. If it "
            "was you, nothing needs doing. If not, someone else typed your address: you can "
            "ignore this message, your own account is unchanged."
        ),
    )
    return user


@transaction.atomic
def user_update(*, user: User, email: str) -> User:
    changed = email.lower() != user.email.lower()
    user.email = email
    user.save(update_fields=["email"])
    if changed:
        _notify_other_owners(
            email=email,
            user=user,
            subject="Another account now gives your email address",
            message=(
                "The account {username} just set this email address as its own. If it is not "
                "yours, you can ignore this message: your own account is unchanged."
            ),
        )
    return user


def user_change_password(*, user: User, old_password: str, new_password: str) -> None:
    """Change the password; saving it ends every refresh token of the user (User.save)."""
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


def user_logout_everywhere(*, user: User) -> int:
    """End every refresh token of the user; access tokens run out within their lifetime."""
    return user.revoke_refresh_tokens()


def refresh_token_for_login(user: User) -> RefreshToken:
    """A refresh token that starts a new chain: its login time is now."""
    token = RefreshToken.for_user(user)
    token[AUTH_TIME_CLAIM] = token["iat"]
    return token


def _login_time(refresh: RefreshToken) -> int:
    """When the login that started this token's chain happened, in epoch seconds.

    Tokens minted before the claim existed count from their own issue time.
    """
    started = refresh.payload.get(AUTH_TIME_CLAIM, refresh.payload.get("iat"))
    if not isinstance(started, int):
        raise TokenError("Token has no valid login time")
    return started


def refresh_token_rotate(*, refresh: RefreshToken) -> dict[str, str]:
    """Trade a verified refresh token for a new pair, at most once, never past its chain's end.

    simplejwt's rotation checks the blacklist and then writes it, so concurrent refreshes with
    one token all succeed. Here the old token is blacklisted first, and the unique constraint
    on BlacklistedToken.token decides: only the request whose insert commits gets a new pair.
    The user row is locked meanwhile, so a concurrent "log out everywhere" ends the new token too.
    """
    started = _login_time(refresh)
    if datetime_from_epoch(started) + api_settings.REFRESH_TOKEN_LIFETIME <= timezone.now():
        raise TokenError("The login this token belongs to has expired; log in again")
    user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
    users = User.objects.select_for_update().filter(**{api_settings.USER_ID_FIELD: user_id})
    with transaction.atomic():
        user = users.first()
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
        refresh.set_iat()
        refresh.set_exp(from_time=datetime_from_epoch(started))
        refresh[AUTH_TIME_CLAIM] = started
        refresh.outstand()
    data["refresh"] = str(refresh)
    return data
