"""Property-based fuzzing of every operation in /api/schema/, as a user and as staff: no
server errors, and every documented response matches its schema.

Strings are Unicode-heavy: in each request one string of the body, the query or the path (an
object's key too) is replaced or extended with text a form never sends: digits that are not
ASCII (`²`, `٣`), marks, controls and NUL, format and private-use characters, and in JSON
bodies unpaired surrogates (`\ud800`), which JSON can escape but no other part of a request
can carry. The request is schemathesis' own, or, for most operations, a valid one (SEED_*)
against a registry that has a model, so that the odd string gets past the first check.

Bounded and deterministic for CI: a fixed seed (derandomize) and 15 examples per operation.
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
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from registry.demo import IRIS
from registry.models import ModelVersion
from tests.support.api import client_for
from tests.support.factories import AliasFactory, MLModelFactory, UserFactory

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
LEAKS = ("Traceback", 'File "/', "site-packages")

_ODD_CATEGORIES = ("Nd", "No", "Nl", "Mn", "Me", "Cc", "Cf", "Co", "Zs", "Zl", "Zp", "Lo", "Lt")
_ODD_SAMPLES = list("\u00b2\u0663\U0001d7d8\x00\u202e\ufeff\u216b\U0010ffff")
# Text that can go anywhere in a request (it encodes to UTF-8).
WIRE_CHARACTERS = st.sampled_from(_ODD_SAMPLES) | st.characters(categories=_ODD_CATEGORIES)
WIRE_TEXT = st.text(WIRE_CHARACTERS, min_size=1, max_size=6)
# Text only a JSON body can carry, as an escape: an unpaired surrogate among odd text.
SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
JSON_TEXT = WIRE_TEXT | st.tuples(
    st.text(max_size=2), SURROGATE, st.text(WIRE_CHARACTERS, max_size=2)
).map("".join)


# Names that exist (see `registry_rows`), so that odd text also reaches what comes after a
# successful lookup: a row's features, an alias, a version.
KNOWN = st.sampled_from(["iris", "production", "2", "sepal_length"])


def odd(value, text: st.SearchStrategy, *, keys: bool = True) -> st.SearchStrategy:
    """`value` with one of its strings (an object's key too, with `keys`) replaced by `text` or
    a known name, or followed by `text`; the rest is left as it was, so that the request still
    gets as far as that string can take it."""
    spots = list(_spots(value, (), keys))
    if not spots:
        return st.just(value)

    def changed(spot):
        path, old = spot
        new = st.one_of(text, KNOWN, st.tuples(st.just(old) | KNOWN, text).map("".join))
        return new.map(lambda replacement: _replace(value, path, replacement))

    return st.sampled_from(spots).flatmap(changed)


def _spots(value, path: tuple, keys: bool):
    """(path, string) of each string in `value`; a key's path ends with ("key", its key)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if keys:
                yield (*path, ("key", key)), key
            yield from _spots(item, (*path, key), keys)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _spots(item, (*path, index), keys)


def _replace(value, path: tuple, new: str):
    if not path:
        return new
    step, rest = path[0], path[1:]
    if isinstance(step, tuple):  # this dict's key
        return {(new if key == step[1] else key): item for key, item in value.items()}
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[step] = _replace(value[step], rest, new)
    return copy


# Valid requests of each operation, which odd text is put into half of the time: schemathesis'
# own cases are mostly refused before their strings reach a lookup or a row.
PASSWORD = "a-long-and-unusual-passphrase"
SEED_BODIES = {
    ("POST", "/api/v1/auth/token/"): {"username": "alice", "password": PASSWORD},
    ("POST", "/api/v1/auth/token/refresh/"): {"refresh": "token"},
    ("POST", "/api/v1/auth/logout/"): {"refresh": "token"},
    ("POST", "/api/v1/billing/adjustments/"): {"username": "alice", "amount": 5, "reason": "r"},
    ("POST", "/api/v1/billing/topup/"): {"amount": 5},
    ("POST", "/api/v1/models/"): {"name": "wine", "task": "regression", "title": "t"},
    ("PATCH", "/api/v1/models/{name}/"): {"title": "t", "description": "d"},
    ("PUT", "/api/v1/models/{model_name}/aliases/{alias}/"): {"version": 2, "reason": "r"},
    ("POST", "/api/v1/models/{model_name}/aliases/{alias}/rollback/"): {"reason": "r"},
    ("POST", "/api/v1/predictions/"): {
        "model": "iris",
        "version": "production",
        "inputs": [IRIS.input_example],
    },
    ("POST", "/api/v1/users/"): {"username": "bob", "email": "b@example.com", "password": PASSWORD},
    ("PATCH", "/api/v1/users/me/"): {"email": "me@example.com"},
    ("POST", "/api/v1/users/me/password/"): {"old_password": "x", "new_password": PASSWORD},
}
SEED_QUERIES = {
    ("GET", "/api/v1/predictions/"): {
        "model": "iris",
        "version": "2",
        "status": "pending,failed",
        "created_after": "2024-01-01",
    },
    ("GET", "/api/v1/billing/transactions/"): {"kind": "grant", "created_before": "2030-01-01"},
    ("GET", "/api/v1/models/{name}/schema/"): {"version": "production"},
}


def _seeded(value, seed, text: st.SearchStrategy, *, keys: bool = True) -> st.SearchStrategy:
    """`odd` of schemathesis' value once in four, of the seed otherwise (when there is one)."""
    generated = odd(value, text, keys=keys)
    if seed is None:
        return generated
    seeded = odd(seed, text, keys=keys)
    return st.integers(0, 3).flatmap(lambda n: seeded if n else generated)


@schema.hook("flatmap_case")
def unicode_heavy(context, case):
    operation = (case.operation.method.upper(), case.operation.path)
    json_body = case.media_type == "application/json"
    body_text = JSON_TEXT if json_body else WIRE_TEXT
    has_body = isinstance(case.body, (dict, list, str))
    parts = st.tuples(
        _seeded(case.body, SEED_BODIES.get(operation) if json_body else None, body_text)
        if has_body
        else st.just(None),
        _seeded(case.query or {}, SEED_QUERIES.get(operation), WIRE_TEXT, keys=False),
        odd(case.path_parameters or {}, WIRE_TEXT, keys=False),
    )

    def apply(values):
        body, query, path = values
        if has_body:
            case.body = body
        if query:
            case.query = query
        if case.path_parameters:
            case.path_parameters = path
        # The changed values are the case as generated: schemathesis would otherwise check
        # them against the schema again, and its validator cannot read a lone surrogate.
        case._record_starting_state()
        return case

    return parts.map(apply)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes the connection after each request, which would end the test's
    transaction; Django's own test client disconnects this signal the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def registry_rows(db):
    """A model with a version and a production alias, as rows (no artifact is loaded here)."""
    model = MLModelFactory(name="iris")
    version = ModelVersion.objects.create(
        model=model,
        number=2,
        artifact="artifacts/iris/none.onnx",
        format="onnx",
        runtime="onnxruntime",
        sha256="0" * 64,
        size=1,
        input_schema=IRIS.input_schema,
        labels=IRIS.labels,
        input_example=IRIS.input_example,
    )
    AliasFactory(version=version)


@pytest.fixture(params=["user", "staff"])
def auth_headers(request, db):
    user = UserFactory(is_staff=request.param == "staff")
    token = client_for(user)._credentials["HTTP_AUTHORIZATION"]
    return {"Authorization": token}


@schema.parametrize()
@hypothesis_settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_matches_its_schema_and_never_fails(case, auth_headers):
    response = case.call_and_validate(headers=auth_headers, checks=CHECKS)
    assert not any(leak in response.text for leak in LEAKS), response.text[:500]
