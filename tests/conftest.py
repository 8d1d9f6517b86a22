import pytest

# Shared helpers live in tests/support; their asserts report like a test's own.
pytest.register_assert_rewrite("tests.support")

from django.core.cache import cache  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from registry.models import PRODUCTION  # noqa: E402
from tests.support import hostile_models  # noqa: E402
from tests.support.api import client_for  # noqa: E402
from tests.support.factories import (  # noqa: E402
    MLModelFactory,
    ModelVersionFactory,
    UserFactory,
    register_hostile,
)

# Fixtures more than one test folder uses.
pytest_plugins = [
    "tests.support.models",
    "tests.support.webhooks",
    "tests.support.faults",
    "tests.support.workers",
]


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


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def alice_client(alice):
    return client_for(alice)


@pytest.fixture
def iris(db):
    """The iris demo model: v1 in skops, v2 in ONNX and in production."""
    model = MLModelFactory(name="iris", title="Iris")
    ModelVersionFactory(model=model)
    ModelVersionFactory(model=model, format="onnx", alias=PRODUCTION)
    return model


@pytest.fixture
def exploding(db, tmp_path):
    return register_hostile("exploding", hostile_models.ExplodingRegressor, tmp_path)


@pytest.fixture
def sleepy(db, tmp_path):
    return register_hostile("sleepy", hostile_models.SleepyRegressor, tmp_path, timeout_seconds=1)


@pytest.fixture
def stubborn(db, tmp_path):
    return register_hostile(
        "stubborn", hostile_models.StubbornRegressor, tmp_path, timeout_seconds=1
    )
