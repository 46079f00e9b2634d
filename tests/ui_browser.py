"""What the web UI's browser tests share: Debian's headless Chromium driven by Selenium
(nothing downloaded: /usr/bin/chromedriver), screenshots into the artifacts directory,
axe-core's check (tests/vendor/axe.min.js, never served), and the page's timings."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("BERTH_UI_ARTIFACTS", ROOT / "test-artifacts" / "ui"))
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
DRIVER = "/usr/bin/chromedriver"


def chromium(width: int = 1280, height: int = 1000):
    """A headless Chromium, or skip when Debian's is not installed (scripts/browser.sh)."""
    if not Path(DRIVER).exists() or not shutil.which("chromium"):
        pytest.skip("no chromium/chromedriver: run scripts/browser.sh")
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium's usage statistics: off
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--disable-features=BackForwardCache",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def wait_for(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # the element is not there yet, or went stale
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # ok: polling with a deadline, not a timing assertion


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def serious_violations(driver) -> list[str]:
    """axe-core's serious and critical violations on the page shown."""
    driver.execute_script(AXE.read_text() + "\n;window.__axeLoaded = true;")
    violations = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));")
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{[n.get('target') for n in v.get('nodes', [])][:3]}"
            for v in violations if v.get("impact") in ("serious", "critical")]


def paint_timings(driver) -> dict[str, float]:
    """First paint, first contentful paint and DOMContentLoaded of the page loaded last,
    and when its data was on screen (body's data-ready), in ms since navigation."""
    return driver.execute_script("""
        const paint = Object.fromEntries(performance.getEntriesByType('paint')
            .map(e => [e.name, e.startTime]));
        const nav = performance.getEntriesByType('navigation')[0];
        return {first_paint: paint['first-paint'] ?? null,
                first_contentful_paint: paint['first-contentful-paint'] ?? null,
                dom_content_loaded: nav ? nav.domContentLoadedEventEnd : null,
                data_on_screen: document.body.dataset.ready ? Number(document.body.dataset.ready) : null};
    """)
