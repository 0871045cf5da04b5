"""Browser tests of the dashboard: Playwright driving Debian's Chromium against a real `crmsync serve` on loopback.

Skipped with a reason when /usr/bin/chromium or the playwright package is missing, except under CI=true, where
that is a failure. Playwright's own browser download is never used. Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.dashboard.conftest import dashboard_sandbox, site  # noqa: F401  (the same site per test)
from tests.integration.dashboard.harness import OPERATOR_TOKEN, Site

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: browser tests are mandatory)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    opened.set_default_timeout(15_000)
    try:
        yield opened
    finally:
        await context.close()


async def sign_in(page: Page, site: Site, target: str = "/") -> None:  # noqa: F811  (the fixture's value)
    """Open `target` as a person does: the login page first, the operator token, then the page."""
    await page.goto(site.url + target)
    await page.fill("#token-login input[name=token]", OPERATOR_TOKEN)
    await page.click("#token-login button[type=submit]")
    await page.wait_for_url(site.url + target)


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
