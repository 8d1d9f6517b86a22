"""Make sure a staff superuser exists for the admin; `make run` calls it on every start.

With DJANGO_SUPERUSER_USERNAME (and DJANGO_SUPERUSER_PASSWORD, optional DJANGO_SUPERUSER_EMAIL)
that user is created once. Without them an `admin` user is created once with a generated
password, printed this one time: the database keeps only its hash.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


class Command(BaseCommand):
    help = (
        "Create the admin superuser once (from DJANGO_SUPERUSER_USERNAME/_PASSWORD, or `admin` "
        "with a generated password printed once) and say how to log in. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="", help="Admin URL to print, e.g. http://x/admin/")

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip() or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "").strip()
        where = f" at {options['url']}" if options["url"] else ""
        User = get_user_model()
        with transaction.atomic():
            existing = User.objects.select_for_update().filter(username=username).first()
            if existing is not None:
                if not (existing.is_staff and existing.is_active):
                    raise CommandError(
                        f"User {username!r} exists but is not an active staff user; fix it with "
                        f"`manage.py shell` or set DJANGO_SUPERUSER_USERNAME to another name."
                    )
                self.stdout.write(
                    f"Admin user {username!r} exists: log in{where} with its password "
                    f"(forgot it? python manage.py changepassword {username})."
                )
                return
            generated = not password
            if generated:
                password = secrets.token_urlsafe(18)
            User.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            self.stdout.write(
                self.style.SUCCESS(f"Created admin user {username!r}; log in{where} with:")
            )
            self.stdout.write(f"    username: {username}\n    password: {password}")
            self.stdout.write(
                "This password is shown once and stored only as a hash: note it now "
                f"(change it: python manage.py changepassword {username})."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created admin user {username!r}; log in{where} with "
                    "DJANGO_SUPERUSER_PASSWORD."
                )
            )
