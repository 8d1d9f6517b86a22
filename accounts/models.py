from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models.functions import Upper
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken


class User(AbstractUser):
    """The project's user from the first migration, so fields can be added without pain.

    Emails are contact addresses, not identities: several accounts may give the same one, so
    registering or changing an email never tells anyone that an address is in use.
    """

    email = models.EmailField("email address", blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        # iexact lookups compare UPPER(email) on PostgreSQL.
        indexes = [models.Index(Upper("email"), name="accounts_user_email_ci")]

    def save(self, *args, **kwargs):
        # set_password() leaves the new raw password in _password until the row is saved; a
        # changed password, from the API, the admin or changepassword, ends every session.
        password_changed = self._password is not None and self.pk is not None
        super().save(*args, **kwargs)
        if password_changed:
            self.revoke_refresh_tokens()

    def revoke_refresh_tokens(self) -> int:
        """Blacklist every refresh token of this user; returns how many were still usable.

        The user row is locked first, as token rotation does, so a refresh racing with this
        either sees its token blacklisted or has its successor blacklisted here.
        """
        with transaction.atomic():
            User.objects.select_for_update().filter(pk=self.pk).exists()
            usable = OutstandingToken.objects.filter(user=self, blacklistedtoken__isnull=True)
            created = BlacklistedToken.objects.bulk_create(
                [BlacklistedToken(token=token) for token in usable], ignore_conflicts=True
            )
        return len(created)
