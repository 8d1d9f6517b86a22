import pytest


@pytest.fixture(autouse=True)
def _each_test_alone(media_root, fresh_queue_and_cache):
    """Each test has a media folder of its own, an empty queue and no cached model."""
