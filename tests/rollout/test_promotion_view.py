import pytest

from evidence.services import feedback_create
from predictions.models import Prediction
from registry import services as registry_services
from registry.models import AliasMove
from tests.support.rollout import served, shadowed, version

pytestmark = pytest.mark.django_db


def page(model) -> str:
    return f"/admin/rollout/{model.name}/promotion/"


@pytest.fixture
def under_test(xy, alice):
    """v2 shadows xy's production v1, with one agreement and one disagreement."""
    v1, v2 = version(xy, 1), version(xy, 2)
    registry_services.alias_shadow_add(model=xy, alias="production", version=v2)
    shadowed(served(v1, alice, output=4.0, ms=10, ago=1), v2, output=4.0, ms=30)
    shadowed(served(v1, alice, output=6.0, ms=20, ago=2), v2, output=9.0, ms=50)
    return xy


def test_the_model_page_links_to_its_promotion_view(under_test, admin_client):
    response = admin_client.get(f"/admin/registry/mlmodel/{under_test.pk}/change/")
    assert page(under_test).encode() in response.content


def test_the_promotion_view_shows_the_candidate_beside_production(under_test, admin_client):
    response = admin_client.get(page(under_test))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Candidate v2" in html and "production v1" in html
    assert "50.0% of 2" in html  # agreement
    assert list(response.context["sections"]) == [
        "shadow",
        "served",
        "quality",
        "quality_on_shared",
    ]
    quality = response.context["sections"]["quality"]["rows"]
    assert quality[0] == ("Predictions with feedback", 0, 0)
    assert [name for name, _, _ in quality[1:]] == ["mae", "rmse", "r2"]
    [disagreement] = response.context["disagreements"]
    assert (disagreement["output"], disagreement["shadow_output"]) == (
        {"value": 6.0},
        {"value": 9.0},
    )
    for button in ("promote", "end_test", "rollback"):
        assert f'value="{button}"' in html


def test_promote_end_and_roll_back_are_audited_alias_moves(under_test, admin_client):
    url = page(under_test)
    admin_client.post(url, {"action": "promote", "candidate": "2", "reason": "looks good"})
    alias = under_test.aliases.get(name="production")
    assert (alias.version.number, list(alias.shadows.all())) == (2, [])
    admin_client.post(url, {"action": "rollback", "reason": "second thoughts"})
    alias = under_test.aliases.get(name="production")
    assert (alias.version.number, [v.number for v in alias.shadows.all()]) == (1, [2])
    response = admin_client.post(url, {"action": "end_test", "candidate": "2"}, follow=True)
    assert "now: v1" in response.content.decode()
    assert under_test.aliases.get(name="production").shadows.count() == 0
    moves = AliasMove.objects.order_by("-id").values_list("kind", "reason", "actor__username")
    assert list(moves[:3]) == [
        ("shadow_remove", "", "staff"),
        ("rollback", "second thoughts", "staff"),
        ("promote", "looks good", "staff"),
    ]


def test_a_failed_action_is_a_message_not_an_error_page(under_test, admin_client):
    response = admin_client.post(
        page(under_test), {"action": "end_test", "candidate": "1"}, follow=True
    )
    assert response.status_code == 200
    assert "not one of its shadows" in response.content.decode()


def test_a_bad_window_is_a_message(under_test, admin_client):
    response = admin_client.get(page(under_test), {"window": "soon"})
    assert response.status_code == 200
    assert "Use a number and m, h or d" in response.content.decode()


def test_an_alias_with_nothing_under_test_says_so(xy, admin_client):
    response = admin_client.get(page(xy))
    assert "Nothing is under test" in response.content.decode()


def test_an_unknown_model_is_a_404(db, admin_client):
    assert admin_client.get("/admin/rollout/nope/promotion/").status_code == 404


def test_the_version_admin_actions_shadow_and_end_the_test(xy, admin_client):
    v2 = version(xy, 2)
    changelist = "/admin/registry/modelversion/"
    admin_client.post(changelist, {"action": "shadow_production", "_selected_action": [v2.pk]})
    assert [v.number for v in xy.aliases.get(name="production").shadows.all()] == [2]
    admin_client.post(changelist, {"action": "end_test_production", "_selected_action": [v2.pk]})
    assert xy.aliases.get(name="production").shadows.count() == 0


def test_staff_see_shadow_runs_and_routes_in_the_admin(under_test, admin_client):
    runs = admin_client.get("/admin/predictions/shadowrun/")
    assert runs.status_code == 200
    assert "9" in runs.content.decode()  # the disagreeing shadow's value
    predictions = admin_client.get("/admin/predictions/prediction/", {"route": "alias"})
    assert predictions.status_code == 200


def test_the_quality_section_shows_each_versions_figures_from_feedback(
    under_test, admin_client, staff_user
):
    for prediction in Prediction.objects.filter(version__number=1):
        feedback_create(prediction=prediction, row=None, value=5.0, actor=staff_user)
    rows = admin_client.get(page(under_test)).context["sections"]["quality"]["rows"]
    # v1 answered 4 and 6 where the truth was 5; v2 served nothing with feedback.
    assert rows[0] == ("Predictions with feedback", 0, 2)
    assert ("mae", "-", "1") in rows


def test_the_promotion_view_shows_both_versions_quality_on_the_same_predictions(
    under_test, admin_client, alice
):
    answered_six = Prediction.objects.get(output__value=6.0)  # the shadow said 9.0
    feedback_create(prediction=answered_six, row=None, value=5.0, actor=alice)
    rows = admin_client.get(page(under_test)).context["sections"]["quality_on_shared"]["rows"]
    assert rows[:2] == [("Predictions with feedback", 1, 1), ("mae", "4", "1")]
