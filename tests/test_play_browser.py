"""The play page in a real browser: Debian's Chromium, headless, driven by Selenium.

Loads the page served by `genie-lit play --serve`, presses keys and checks that new frames arrive,
that the action shown is the key's action, that the canvas changes and the frame rate is shown.
Skips (with the reason) where Chromium, its driver or Selenium are missing; CI installs them with
`apt-get install -y chromium chromium-driver`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if CHROMIUM is None or DRIVER is None:
    pytest.skip("needs Debian's chromium and chromedriver: apt-get install -y chromium chromium-driver",
                allow_module_level=True)
selenium = pytest.importorskip("selenium", reason="needs selenium: pip install 'genie-lit[test]'")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from genie_lit.play import default_prompt, load_world  # noqa: E402
from genie_lit.play.server import PlayServer  # noqa: E402
from genie_lit.play.session import PlaySession  # noqa: E402

# without the background-networking flags Chromium's own connections are refused on a closed network
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1000,800"]


@pytest.fixture(scope="module")
def page_url(world_ckpt):
    world = load_world(str(world_ckpt), maskgit_steps=2)
    server = PlayServer(PlaySession(world, default_prompt(world.image_size), seed=0), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser():
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    profile = tempfile.mkdtemp(prefix="genie_lit_chromium_")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def _frames(driver) -> int:
    return int(driver.find_element(By.ID, "world").get_attribute("data-frames") or 0)


def _canvas(driver) -> str:
    return driver.execute_script("return document.getElementById('world').toDataURL();")


def test_keys_play_actions_and_new_frames_arrive(page_url, browser):
    wait = WebDriverWait(browser, 30)
    browser.get(page_url)
    wait.until(lambda d: _frames(d) >= 1 and _text(d, "action") == "P")  # the page resets on load
    assert _text(browser, "frame-index") == "0"
    first = _canvas(browser)
    body = browser.find_element(By.TAG_NAME, "body")

    body.send_keys("3")  # digit k plays action k
    wait.until(lambda d: _frames(d) >= 2)
    assert _text(browser, "action") == "3"
    assert int(_text(browser, "frame-index")) >= 1
    assert _canvas(browser) != first, "a new frame must be drawn on the canvas"

    before = _frames(browser)
    body.send_keys(Keys.ARROW_RIGHT)  # default map: right arrow plays action 2
    wait.until(lambda d: _frames(d) > before and _text(d, "action") == "2")
    body.send_keys("d")  # ... and so does D
    wait.until(lambda d: _frames(d) > before + 1)
    assert _text(browser, "action") == "2"

    for key in "0101":
        body.send_keys(key)
    # the last key's frame has arrived (on a loaded machine the fifth frame can come before the sixth)
    wait.until(lambda d: _frames(d) >= before + 5 and _text(d, "action") == "1")
    assert float(_text(browser, "fps")) > 0, "the measured frame rate is shown"
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#history .thumb span")]
    assert labels[0] == "P" and labels[-1] == "1" and "3" in labels, labels
    assert browser.find_element(By.ID, "status").text == ""

    body.send_keys("r")  # reset: a new episode starts from the prompt
    wait.until(lambda d: _text(d, "action") == "P" and _text(d, "frame-index") == "0")


def test_buttons_play_and_the_session_downloads_as_mp4(page_url, browser):
    wait = WebDriverWait(browser, 30)
    browser.get(page_url)
    wait.until(lambda d: _frames(d) >= 1)
    browser.find_element(By.CSS_SELECTOR, "#buttons button[data-action='5']").click()
    wait.until(lambda d: _frames(d) >= 2 and _text(d, "action") == "5")
    assert browser.find_element(By.ID, "download").get_attribute("download") == "genie_session.mp4"
    answer = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/session.mp4').then(async (r) => done([r.status, r.headers.get('content-type'),
            (await r.arrayBuffer()).byteLength])).catch((e) => done(String(e)));""")
    status, content_type, size = answer
    assert status == 200 and content_type == "video/mp4" and size > 1000
