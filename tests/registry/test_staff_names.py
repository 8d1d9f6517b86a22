"""Who on the staff uploaded a version or moved an alias is shown to staff only: other users
read null there, and the API schema says so."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from registry import services
from tests.support.api import client_for
from tests.support.factories import UserFactory
from tests.support.models import IRIS

pytestmark = pytest.mark.django_db


@pytest.fixture
def released_iris(iris_model, artifacts):
    uploader = UserFactory(is_staff=True, username="ops-lead-jane")
    services.version_create(
        model=iris_model,
        artifact=artifacts.iris_skops,
        format="skops",
        input_schema=IRIS.input_schema,
        input_example=IRIS.input_example,
        labels=IRIS.labels,
        actor=uploader,
        alias="production",
        alias_reason="first release",
    )
    return iris_model


def staff_names(client) -> dict[str, list]:
    """Every staff field of the registry's read endpoints, as the client reads them."""
    version = client.get("/api/v1/models/iris/versions/1/").json()
    aliases = client.get("/api/v1/models/iris/aliases/").json()
    history = client.get("/api/v1/models/iris/aliases/production/history/").json()["results"]
    return {
        "created_by": [version["created_by"]],
        "updated_by": [alias["updated_by"] for alias in aliases],
        "actor": [move["actor"] for move in history],
    }


def test_a_user_sees_null_where_staff_usernames_were(released_iris, user_client):
    assert staff_names(user_client) == {
        "created_by": [None],
        "updated_by": [None],
        "actor": [None],
    }
    everything = " ".join(
        user_client.get(path).content.decode()
        for path in (
            "/api/v1/models/",
            "/api/v1/models/iris/",
            "/api/v1/models/iris/versions/",
            "/api/v1/models/iris/versions/1/",
            "/api/v1/models/iris/aliases/",
            "/api/v1/models/iris/aliases/production/history/",
        )
    )
    assert "ops-lead-jane" not in everything


def test_staff_see_who_did_it(released_iris):
    colleague = client_for(UserFactory(is_staff=True))
    assert staff_names(colleague) == {
        "created_by": ["ops-lead-jane"],
        "updated_by": ["ops-lead-jane"],
        "actor": ["ops-lead-jane"],
    }


def test_the_schema_says_these_fields_are_null_for_users():
    schema = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    found = {
        (component, name): schema[component]["properties"][name]
        for component, name in (
            ("Version", "created_by"),
            ("Alias", "updated_by"),
            ("AliasMove", "actor"),
        )
    }
    for prop in found.values():
        assert prop["nullable"] is True and prop["readOnly"] is True
        assert prop["description"] == "Shown to staff only; null for other users."
