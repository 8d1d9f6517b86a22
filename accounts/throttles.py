"""Login and registration limits. State lives in the default cache (Redis), so limits hold
across gunicorn workers and hosts. The client address comes from REMOTE_ADDR unless NUM_PROXIES
says otherwise.

Login is limited three ways, checked in this order, and a request refused by one is not counted
by the next (accounts.views.TokenObtainPairView.check_throttles):

- per (address, username) pair: the guesses one client makes against one account;
- per address: one client trying many accounts;
- per username from all addresses: a ceiling well above what one address can send, so an
  attacker's failures never lock the owner out from another address, while a distributed
  attack on one account is still capped.

The admin login form is limited by django-axes with the pair's numbers (settings.AXES_*), through
the same address and username keys as here.
"""

import hashlib

from django.urls import reverse
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

_identity = BaseThrottle()


def client_address(request) -> str:
    """The client's address as every limit here sees it (DRF's rule, honouring NUM_PROXIES)."""
    return _identity.get_ident(request)


def username_key(username) -> str | None:
    """A cache-safe key for a typed username: case-insensitive, hashed (any text, any length)."""
    if not isinstance(username, str) or not username.strip():
        return None
    text = username.strip().lower()[:150]
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _posted_username(request) -> str | None:
    data = request.data if hasattr(request.data, "get") else {}
    return username_key(data.get("username"))


class LoginIPThrottle(SimpleRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class _UsernameThrottle(SimpleRateThrottle):
    """Throttles only posts that name an account, keyed by `ident`."""

    def get_cache_key(self, request, view):
        username = _posted_username(request)
        if username is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.ident(request, username)}

    def ident(self, request, username: str) -> str:
        raise NotImplementedError


class LoginIPUsernameThrottle(_UsernameThrottle):
    """Caps one client's guesses against one account."""

    scope = "login_ip_username"

    def ident(self, request, username: str) -> str:
        return f"{client_address(request)}:{username}"


class LoginUsernameThrottle(_UsernameThrottle):
    """Caps guesses against one account however many addresses they come from."""

    scope = "login_username"

    def ident(self, request, username: str) -> str:
        return username


class RegisterThrottle(SimpleRateThrottle):
    scope = "register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


# --- django-axes hooks (settings.AXES_*) for the admin login form -------------------------------


def axes_username(request, credentials) -> str | None:
    username = (credentials or {}).get("username")
    if username is None:
        username = request.POST.get("username") if hasattr(request, "POST") else None
    return username_key(username)


def axes_ignores(request, credentials) -> bool:
    """Axes watches the admin only; API logins have their own limits above."""
    return not getattr(request, "path", "").startswith(reverse("admin:index"))
