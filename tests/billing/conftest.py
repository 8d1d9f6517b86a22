import pytest

from tests.support.api import client_for
from tests.support.factories import UserFactory


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def bob_client(bob):
    return client_for(bob)


@pytest.fixture(autouse=True)
def _each_test_alone(media_root, fresh_queue_and_cache):
    """Each test has a media folder of its own, an empty queue and no cached model."""
