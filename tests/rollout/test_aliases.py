import json

import pytest

from registry.models import AliasMove, AuditEvent

pytestmark = pytest.mark.django_db

A = "/api/v1/models/xy/aliases/production"


def alias(client) -> dict:
    [found] = [
        a for a in client.get("/api/v1/models/xy/aliases/").json() if a["name"] == "production"
    ]
    return found


def test_staff_add_and_remove_a_shadow_each_an_audited_move(xy, staff_client, staff_user):
    added = staff_client.post(f"{A}/shadows/", {"version": 2, "reason": "try v2"}, format="json")
    assert added.status_code == 200, added.content
    assert (added.json()["version"], added.json()["shadows"]) == (1, [2])
    removed = staff_client.delete(f"{A}/shadows/2/?reason=enough")
    assert removed.status_code == 200
    assert removed.json()["shadows"] == []
    moves = list(AliasMove.objects.order_by("id").values_list("kind", "reason", "actor"))
    assert moves[-2:] == [
        ("shadow_add", "try v2", staff_user.pk),
        ("shadow_remove", "enough", staff_user.pk),
    ]
    event = AuditEvent.objects.filter(action="alias_shadow_add").get()
    assert event.details["to_state"] == {"version": 1, "shadows": [2], "canary": None}
    assert event.details["from_state"] == {"version": 1, "shadows": [], "canary": None}


def test_the_history_shows_each_change_with_its_states(xy, staff_client):
    staff_client.put(f"{A}/split/", {"version": 2, "percent": 10}, format="json")
    history = staff_client.get(f"{A}/history/").json()["results"]
    assert history[0]["kind"] == "split_set"
    assert history[0]["to_state"]["canary"] == {"version": 2, "percent": 10.0}
    assert history[0]["actor"] == "staff"


def test_promoting_a_shadow_ends_its_test_and_a_rollback_restores_the_shadow(xy, staff_client):
    staff_client.post(f"{A}/shadows/", {"version": 2}, format="json")
    promoted = staff_client.post(f"{A}/promote/", {"version": 2, "reason": "better"}, format="json")
    assert promoted.status_code == 200
    assert (promoted.json()["version"], promoted.json()["shadows"]) == (2, [])
    rolled = staff_client.post(f"{A}/rollback/", {"reason": "worse after all"}, format="json")
    assert rolled.status_code == 200
    assert (rolled.json()["version"], rolled.json()["shadows"]) == (1, [2])
    assert list(AliasMove.objects.order_by("-id").values_list("kind", flat=True)[:2]) == [
        "rollback",
        "promote",
    ]


def test_ending_a_split_can_be_rolled_back_to_the_same_split(xy, staff_client):
    staff_client.put(f"{A}/split/", {"version": 2, "percent": 10}, format="json")
    ended = staff_client.delete(f"{A}/split/")
    assert ended.json()["canary"] is None
    rolled = staff_client.post(f"{A}/rollback/", {}, format="json")
    assert rolled.json()["canary"] == {"version": 2, "percent": 10.0}
    assert alias(staff_client)["canary"] == {"version": 2, "percent": 10.0}


def test_moving_the_alias_keeps_its_shadows(xy, staff_client):
    staff_client.post(f"{A}/shadows/", {"version": 2}, format="json")
    staff_client.put(f"{A}/", {"version": 1, "reason": "same"}, format="json")
    assert alias(staff_client)["shadows"] == [2]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("shadows/", {"version": 1}, 409, "alias_unchanged"),  # already the alias's version
        ("shadows/", {"version": 9}, 404, "version_not_found"),
        ("split/", {"version": 2, "percent": 100}, 400, "invalid"),
        ("split/", {"version": 2, "percent": 0}, 400, "invalid"),
        ("split/", {"version": 2}, 400, "required"),
        ("split/", {"version": 1, "percent": 10}, 409, "alias_unchanged"),
    ],
)
def test_bad_changes_are_clear_4xx_errors(xy, staff_client, path, body, status, code):
    response = staff_client.generic(
        "PUT" if path == "split/" else "POST",
        f"{A}/{path}",
        data=json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_removing_a_version_that_is_no_shadow_is_a_conflict(xy, staff_client):
    response = staff_client.delete(f"{A}/shadows/2/")
    assert response.status_code == 409
    assert "not one of its shadows" in response.json()["error"]["message"]


def test_users_cannot_change_shadows_or_splits(xy, alice_client):
    assert alice_client.post(f"{A}/shadows/", {"version": 2}, format="json").status_code == 403
    assert (
        alice_client.put(f"{A}/split/", {"version": 2, "percent": 5}, format="json").status_code
        == 403
    )
    assert alice_client.delete(f"{A}/split/").status_code == 403
    assert alice_client.post(f"{A}/promote/", {"version": 2}, format="json").status_code == 403
