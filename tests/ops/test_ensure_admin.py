import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(capsys) -> str:
    call_command("ensure_admin", url="http://127.0.0.1:8000/admin/")
    return capsys.readouterr().out


def test_it_creates_an_admin_with_a_generated_password_shown_once(capsys, monkeypatch, client):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    first = run(capsys)
    password = first.split("password: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert password not in admin.password and admin.check_password(password)
    assert "http://127.0.0.1:8000/admin/" in first
    assert client.login(username="admin", password=password)

    second = run(capsys)
    assert "exists" in second and password not in second
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_it_uses_the_username_and_password_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-chosen-passphrase")
    out = run(capsys)
    assert "a-long-chosen-passphrase" not in out and "DJANGO_SUPERUSER_PASSWORD" in out
    ops = get_user_model().objects.get(username="ops")
    assert ops.is_superuser and ops.check_password("a-long-chosen-passphrase")
    assert "exists" in run(capsys)


def test_it_refuses_to_pass_off_a_non_staff_user_as_the_admin(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "mallory")
    UserFactory(username="mallory")
    with pytest.raises(CommandError, match="not an active staff user"):
        call_command("ensure_admin")
