"""The documentation pages render in chromium with no other host, and the studio is usable at phone width
with a label on every control."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser.conftest import Studio, open_page


def test_swagger_ui_renders_from_this_server_alone(browser: Browser, studio: Studio) -> None:
    visit = open_page(browser, f"{studio.url}/docs")
    expect(visit.page.locator(".swagger-ui .info .title")).to_contain_text("aceserve")
    expect(visit.page.locator(".opblock-summary-path").first).to_be_visible()
    assert not visit.foreign(studio.url) and not visit.errors, (visit.foreign(studio.url), visit.errors)
    visit.page.close()


def test_redoc_renders_from_this_server_alone(browser: Browser, studio: Studio) -> None:
    visit = open_page(browser, f"{studio.url}/redoc")
    expect(visit.page.locator("h1").first).to_contain_text("aceserve")
    expect(visit.page.get_by_text("Follow a task (Server-Sent Events)").first).to_be_attached()
    assert not visit.foreign(studio.url) and not visit.errors, (visit.foreign(studio.url), visit.errors)
    visit.page.close()


def test_the_studio_fits_a_phone_and_labels_every_control(browser: Browser, studio: Studio) -> None:
    visit = open_page(browser, f"{studio.url}/", width=390, height=844)
    page = visit.page
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    for tab in ("Text to music", "Restyle", "Edit", "Extend"):
        page.get_by_role("tab", name=tab).click()
        for group in page.locator("details.group").all():
            group.evaluate("d => d.open = true")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), tab
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter(el => !el.hidden && el.type !== 'hidden')
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                              && !el.textContent.trim())
                .map(el => el.id || el.outerHTML.slice(0, 80))"""
        )
        assert not unlabelled, (tab, unlabelled)
    page.get_by_role("tab", name="Text to music").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Restyle")).to_have_attribute("aria-selected", "true")
    assert not visit.foreign(studio.url) and not visit.errors, (visit.foreign(studio.url), visit.errors)
    visit.page.close()
