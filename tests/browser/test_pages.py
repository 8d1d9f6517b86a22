"""What a staff member and an API user see in a real browser."""

import json
import re

import pytest
from playwright.sync_api import expect

from registry.models import Alias
from tests.support.factories import DEFAULT_PASSWORD, MLModelFactory, UserFactory
from tests.support.models import IRIS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_upload_promote_and_see_a_version_on_the_dashboard(page, live_server, artifacts):
    UserFactory(username="ops", is_staff=True, is_superuser=True)
    model = MLModelFactory(name="iris", title="Iris")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(f"{live_server.url}/admin/registry/modelversion/add/")
    page.select_option("#id_model", str(model.pk))
    page.set_input_files("#id_artifact", str(artifacts.iris_onnx))
    page.select_option("#id_format", "onnx")
    page.fill("#id_input_schema", json.dumps(IRIS.input_schema))
    page.fill("#id_input_example", json.dumps(IRIS.input_example))
    page.fill("#id_labels", json.dumps(IRIS.labels))
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", "promote_production")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("is now production")
    assert Alias.objects.get(name="production").version.number == 1

    page.goto(f"{live_server.url}/admin/")
    page.click("text=Operations dashboard")
    row = page.locator("#version-table tr", has_text="iris v1")
    expect(row).to_contain_text("production")
    expect(page.locator("#chart-per-day svg")).to_be_visible()
    expect(page.locator("#queue-summary")).to_contain_text("live worker")


def test_swagger_ui_loads_and_try_it_out_gets_a_token(page, live_server):
    UserFactory(username="reader")
    page.goto(f"{live_server.url}/api/docs/")
    operation = page.locator(
        ".opblock-post", has=page.locator(".opblock-summary-path[data-path='/api/v1/auth/token/']")
    )
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    body = operation.locator("textarea.body-param__text")
    body.fill(json.dumps({"username": "reader", "password": DEFAULT_PASSWORD}))
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody td.response-col_status").first
    expect(status).to_have_text(re.compile(r"^\s*200"))
    expect(
        operation.locator(".live-responses-table tbody .response-col_description")
    ).to_contain_text('"access"')
