"""The studio makes, plays, extends, edits and restyles songs in headless chromium, shows the server's
message beside the field it names, cancels a running task, and loads nothing from another host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, expect

from tests.audio import tone_wav
from tests.browser.conftest import Studio, Visit, open_page

TASK_SECONDS = 180_000  # ms: a tiny task on a busy 2-core machine


@pytest.fixture(scope="module")
def visit(browser: Browser, studio: Studio) -> Iterator[Visit]:
    """One page load for the whole flow, with the key entered."""
    opened = open_page(browser, f"{studio.url}/")
    page = opened.page
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("Key", exact=True).fill(studio.key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#account-facts")).to_be_visible()
    yield opened
    assert not opened.errors, opened.errors
    assert not opened.foreign(studio.url), f"requests to other hosts: {opened.foreign(studio.url)}"
    assert not [url for url in opened.requests if studio.key in url], "the key went into a URL"
    opened.page.close()


def create(visit: Visit) -> Locator:
    """Submit the form; the new live card (the newest first)."""
    before = visit.page.locator("#task-list > li").count()
    visit.page.locator("#submit-task").click()
    expect(visit.page.locator("#task-list > li")).to_have_count(before + 1)
    return visit.page.locator("#task-list > li").first


def finished(card: Locator) -> Locator:
    expect(card).to_have_attribute("data-status", re.compile("completed|failed"), timeout=TASK_SECONDS)
    expect(card).to_have_attribute("data-status", "completed")
    return card


def audio_seconds(card: Locator) -> float:
    card.locator("audio").evaluate(
        "a => a.readyState >= 1 || new Promise(done => a.addEventListener('loadedmetadata', done, {once: true}))"
    )
    seconds: float = card.locator("audio").evaluate("a => a.duration")
    return seconds


def test_a_bad_duration_is_shown_beside_its_field_and_nothing_typed_is_lost(visit: Visit) -> None:
    page = visit.page
    page.get_by_role("tab", name="Text to music").click()
    page.get_by_label("Style Prompt", exact=True).fill("bright chiptune, 140 bpm")
    page.get_by_label("Duration", exact=True).fill("0.5")
    page.locator("#submit-task").click()
    error = page.locator("#field-duration-error")
    expect(error).to_contain_text("input.duration")
    expect(page.get_by_label("Duration", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Duration", exact=True)).to_have_value("0.5")
    expect(page.get_by_label("Style Prompt", exact=True)).to_have_value("bright chiptune, 140 bpm")
    page.get_by_label("Duration", exact=True).fill("10")
    expect(error).to_be_empty()


def test_make_a_song_watch_it_finish_and_play_it(visit: Visit, tmp_path_factory: pytest.TempPathFactory) -> None:
    page = visit.page
    page.get_by_role("tab", name="Text to music").click()
    page.get_by_label("Style Prompt", exact=True).fill("warm lofi piano, rain")
    page.get_by_label("Duration", exact=True).fill("10")
    card = create(visit)
    expect(card.locator(".status")).not_to_be_empty()
    finished(card)
    assert audio_seconds(card) == pytest.approx(10, abs=0.2)
    expect(card.locator(".player")).to_have_attribute("data-waveform", "drawn")
    expect(card.get_by_role("link", name="Download")).to_have_attribute("href", re.compile(r"/files/.+\.mp3$"))
    expect(card.locator(".facts-line")).to_contain_text("seed")
    page.screenshot(path=tmp_path_factory.mktemp("screens") / "made.png", full_page=True)


def test_extend_then_edit_from_history(visit: Visit, tmp_path_factory: pytest.TempPathFactory) -> None:
    page = visit.page
    made = page.locator("#history-list > li[data-status=completed]").first
    expect(made).to_be_visible(timeout=30_000)
    made.get_by_role("button", name="Extend").click()
    expect(page.get_by_role("tab", name="Extend")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#field-audio")).to_have_value(re.compile(r"/files/.+\.mp3$"))
    page.locator("#field-right_extend_duration").fill("4")
    extended = finished(create(visit))
    assert audio_seconds(extended) == pytest.approx(14, abs=0.3)

    extended.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("tab", name="Edit")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#field-audio")).to_have_value(extended.locator("a.button").get_attribute("href") or "")
    page.get_by_label("Edit Style Prompt", exact=True).fill("the same tune on strings")
    edited = finished(create(visit))
    assert audio_seconds(edited) == pytest.approx(14, abs=0.3)
    page.screenshot(path=tmp_path_factory.mktemp("screens") / "edited.png", full_page=True)


def test_restyle_an_uploaded_file_and_again_with_the_seed(visit: Visit, tmp_path: Path) -> None:
    page = visit.page
    page.get_by_role("tab", name="Restyle").click()
    song = tmp_path / "tone.wav"
    song.write_bytes(tone_wav(6.0))
    page.locator("#field-style_audio-file").set_input_files(song)
    expect(page.locator("#field-style_audio")).to_have_value(re.compile(r"/files/.+\.wav$"))
    page.get_by_label("Style Prompt", exact=True).fill("dub reggae")
    restyled = finished(create(visit))
    assert audio_seconds(restyled) == pytest.approx(6, abs=0.2)
    seed = re.search(r"seed (\d+)", restyled.locator(".facts-line").inner_text())
    assert seed is not None
    restyled.get_by_role("button", name="Again with this seed").click()
    expect(page.get_by_label("Seed", exact=True)).to_have_value(seed.group(1))


def test_cancel_a_running_task(visit: Visit) -> None:
    page = visit.page
    page.get_by_role("tab", name="Text to music").click()
    page.get_by_label("Style Prompt", exact=True).fill("a very long drone")
    page.get_by_label("Duration", exact=True).fill("600")
    card = create(visit)
    expect(card).to_have_attribute("data-status", "processing", timeout=TASK_SECONDS)
    expect(card.locator(".status")).to_contain_text("Running")
    expect(card.get_by_role("progressbar")).to_be_visible()
    card.get_by_role("button", name="Cancel").click()
    expect(card).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(card.locator(".status")).to_have_text("Cancelled")
