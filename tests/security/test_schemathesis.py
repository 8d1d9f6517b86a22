"""Property-based fuzzing of every operation in /api/schema/, as a user and as staff: no
server errors, and every documented response matches its schema.

Bounded and deterministic for CI: a fixed seed (derandomize) and a few examples per operation.
Undocumented error statuses (401/403/404/409/413/415/429) are not schema breaks here: they are
in the common error shape, checked by the other tests in this folder.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
LEAKS = ("Traceback", 'File "/', "site-packages")


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes the connection after each request, which would end the test's
    transaction; Django's own test client disconnects this signal the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["user", "staff"])
def auth_headers(request, db):
    user = UserFactory(is_staff=request.param == "staff")
    token = client_for(user)._credentials["HTTP_AUTHORIZATION"]
    return {"Authorization": token}


@schema.parametrize()
@hypothesis_settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_matches_its_schema_and_never_fails(case, auth_headers):
    response = case.call_and_validate(headers=auth_headers, checks=CHECKS)
    assert not any(leak in response.text for leak in LEAKS), response.text[:500]
