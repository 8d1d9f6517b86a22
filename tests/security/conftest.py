from tests.predictions.conftest import (  # noqa: F401 - fixtures
    _fresh_queue_and_cache,
    alice,
    alice_client,
    artifacts,
    iris,
    media_root,
)
