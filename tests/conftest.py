import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _clean_cache():
    """Throttle counters live in Redis; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def allow_pickles(settings):
    """Pickle (joblib) uploads are off unless ALLOW_PICKLE_UPLOADS turns them on."""
    settings.ALLOW_PICKLE_UPLOADS = True


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, username="staff")


def client_for(user) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def admin_client(client, staff_user):
    """The Django test client logged in to the admin as a superuser."""
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    return client


@pytest.fixture
def user_client(user):
    return client_for(user)


@pytest.fixture
def staff_client(staff_user):
    return client_for(staff_user)
