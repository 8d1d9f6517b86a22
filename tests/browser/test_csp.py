"""Under the Content-Security-Policy, Swagger UI, ReDoc and the staff pages still work in a real
browser, and the browser reports no violation on them."""

import pytest
from playwright.sync_api import expect

from tests.support.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def violations(page):
    """Messages the browser logs when the policy blocks something on the page."""
    found = []
    page.on(
        "console",
        lambda message: found.append(message.text)
        if "Content Security Policy" in message.text
        else None,
    )
    return found


def test_swagger_ui_renders_every_operation_under_the_policy(page, live_server, violations):
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self';" in response.headers["content-security-policy"] + ";"
    expect(page.locator(".opblock-summary-path[data-path='/api/v1/auth/token/']")).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations == []


def test_redoc_renders_the_api_under_the_policy(page, live_server, violations):
    response = page.goto(f"{live_server.url}/api/redoc/")
    assert "content-security-policy" in response.headers
    # ReDoc lays out the whole schema in the browser before it shows anything: seconds on a
    # busy machine.
    expect(page.locator("h1", has_text="mlservice API")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("/api/v1/auth/token/").first).to_be_attached()
    # ReDoc's page asks for Google Fonts and its badge for a logo on a CDN: blocked on purpose
    # (no third-party requests from our pages); nothing else may be.
    third_party = ("cdn.redoc.ly", "fonts.googleapis.com")
    assert [v for v in violations if not any(host in v for host in third_party)] == []


def test_admin_login_and_dashboard_work_under_the_policy(page, live_server, violations):
    UserFactory(username="ops", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    page.click("text=Operations dashboard")
    expect(page.locator("#chart-per-day svg")).to_be_visible()
    page.goto(f"{live_server.url}/admin/accounts/user/add/")
    expect(page.locator("#id_username")).to_be_visible()
    assert violations == []
