"""Real-browser tests: Playwright driving Debian's Chromium against pytest-django's live_server.

No `playwright install` (it downloads browsers): we launch /usr/bin/chromium (apt: chromium;
.ci/run installs it). Without it every test here is skipped with a message saying so.
Screenshots of failing tests go to test-artifacts/.
"""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            f"Browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium; "
            ".ci/run installs it)."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread while it is open; the tests' own
    # ORM calls are still synchronous, so Django's async-safety guard is relaxed until the
    # browser closes (at the end of the module), not for the rest of the suite.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def viewport() -> dict:
    """The browser window's size; a test module overrides it to check a narrower screen."""
    return {"width": 1280, "height": 900}


@pytest.fixture
def page(browser, request, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"Screenshot of the failing page: {path}")
    context.close()


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
