"""Rollout evidence in a real browser: a staff user opens a model's promotion view from its
page, reads the candidate beside production, promotes it, and finds quality and drift drawn on
the operations dashboard."""

import pytest
from playwright.sync_api import expect

from evidence.services import feedback_create
from registry import services as registry_services
from tests.support.factories import DEFAULT_PASSWORD, MLModelFactory, UserFactory
from tests.support.rollout import add_linear, served, shadowed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def under_test(tmp_path, settings):
    """xy: v1 in production answers x + y, v2 (x + y + 0.5) shadows it; ten predictions with
    their shadow runs (v2 agrees on half) and feedback on each."""
    settings.DRIFT_MIN_ROWS = 5
    owner = UserFactory(username="ops", is_staff=True, is_superuser=True)
    model = MLModelFactory(name="xy", task="regression")
    v1, v2 = add_linear(model, tmp_path, 0.0), add_linear(model, tmp_path, 0.5)
    registry_services.alias_set(model=model, alias="production", version=v1)
    registry_services.alias_shadow_add(model=model, alias="production", version=v2)
    for i in range(10):
        prediction = served(v1, owner, output=float(i), ms=10, ago=i)
        shadowed(prediction, v2, output=float(i) + (0 if i % 2 else 0.5), ms=20)
        feedback_create(prediction=prediction, row=None, value=float(i) + 0.1, actor=owner)
    return model


def test_staff_promote_a_shadow_from_its_evidence_and_see_it_on_the_dashboard(
    page, live_server, under_test
):
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/registry/mlmodel/{under_test.pk}/change/")
    page.click("#promotion")

    expect(page.locator("#alias-state")).to_contain_text("production serves v1; shadows v2")
    shadow_rows = page.locator("#section-shadow tbody tr")
    expect(shadow_rows.first).to_be_visible()
    expect(page.locator("#section-quality")).to_contain_text("Predictions with feedback")
    expect(page.locator("#disagreements tbody tr")).to_have_count(5)

    page.fill("input[name=reason]", "agrees where it matters")
    page.click("button[value=promote]")
    expect(page.locator(".messagelist")).to_contain_text("v2")
    expect(page.locator("#alias-state")).to_contain_text("production serves v2")
    assert under_test.aliases.get(name="production").version.number == 2

    page.goto(f"{live_server.url}/admin/")
    page.click("text=Operations dashboard")
    expect(page.locator(".chart-quality svg").first).to_be_visible()
    expect(page.locator("#chart-psi svg")).to_be_visible()
