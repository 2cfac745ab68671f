"""The web page in a real browser: Playwright driving Debian's chromium (Playwright's own
browser download is not reachable here, so ``executable_path`` points at /usr/bin/chromium).

Set DECAF_DOCS_SHOTS=1 to write the screenshots into docs/images for docs/serve.md."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import skimage.data
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium for the browser tests: apt-get install chromium "
                    "(.ci/run installs it)")  # fmt: skip
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def _shot(page: object, name: str, tmp_path: Path) -> Path:
    dest = (DOCS if os.environ.get("DECAF_DOCS_SHOTS") else tmp_path) / name
    page.screenshot(path=str(dest), full_page=True)
    return dest


def test_annotate_tab_draws_what_was_found(browser, live, tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(live.url + "/")
    page.fill("#api-key", "test-key-123")
    page.click("#tab-annotate")
    page.set_input_files("#an-photo", str(photo))
    page.click("#an-run")
    page.wait_for_selector("#an-labels li", timeout=60_000)
    assert page.inner_text("#an-status") == "done"
    assert page.locator("#an-palette span").count() == 10
    assert "safe search: adult VERY_UNLIKELY" in page.inner_text("#an-text")
    assert '"faceAnnotations"' in page.text_content("#an-json")
    size = page.evaluate("[document.getElementById('an-canvas').width, "
                         "document.getElementById('an-canvas').height]")  # fmt: skip
    assert size == [512, 512]
    assert _shot(page, "serve_annotate.png", tmp_path).stat().st_size > 10_000
    page.close()


def test_stylize_tab_shows_the_result_and_a_download(browser, live, tmp_path: Path) -> None:
    photo = tmp_path / "chelsea.png"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(live.url + "/")
    page.fill("#api-key", "test-key-123")
    page.wait_for_selector("#st-style option[value=mosaic]", state="attached")
    page.set_input_files("#st-photo", str(photo))
    page.select_option("#st-style", "mosaic")
    page.fill("#st-size", "256")
    page.click("#st-run")
    page.wait_for_function("document.getElementById('st-result').src.startsWith('data:image/png')",
                           timeout=60_000)  # fmt: skip
    assert page.inner_text("#st-status").startswith("done in")
    assert page.get_attribute("#st-download", "href").startswith("data:image/png;base64,")
    assert _shot(page, "serve_stylize.png", tmp_path).stat().st_size > 10_000
    page.close()


def test_page_reports_a_wrong_key(browser, live, tmp_path: Path) -> None:
    photo = tmp_path / "cat.png"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    page = browser.new_page()
    page.goto(live.url + "/")
    page.fill("#api-key", "wrong")
    page.click("#tab-annotate")
    page.set_input_files("#an-photo", str(photo))
    page.click("#an-run")
    page.wait_for_function("document.getElementById('an-status').classList.contains('error')")
    assert "API key not valid" in page.inner_text("#an-status")
    page.close()


def test_gatys_shows_progress_then_the_result(browser, live, tmp_path: Path) -> None:
    photo = tmp_path / "small.png"
    Image.fromarray(skimage.data.chelsea()).resize((96, 64)).save(photo)
    page = browser.new_page()
    page.goto(live.url + "/")
    page.fill("#api-key", "test-key-123")
    page.wait_for_selector("#st-style option", state="attached")
    page.select_option("#st-method", "gatys")
    page.set_input_files("#st-photo", str(photo))
    page.fill("#st-size", "64")
    page.click("#st-run")
    page.wait_for_selector("#st-progress:not([hidden])", timeout=30_000)
    assert page.is_visible("#st-cancel")
    page.wait_for_function("document.getElementById('st-result').src.startsWith('data:image/png')",
                           timeout=120_000)  # fmt: skip
    assert page.inner_text("#st-status").startswith("done in")
    assert page.is_hidden("#st-progress") and page.is_hidden("#st-cancel")
    page.close()
