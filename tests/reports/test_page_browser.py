"""The reports page in a real browser: Debian's Chromium, headless, driven by Selenium.

From a seeded ledger the page draws its charts, shows the same totals as the
API, exports the CSV, and makes no request outside the gateway (checked on
Chromium's own network log). ``REPORTS_SCREENSHOT=docs/img/reports.png`` saves
the screenshot the README shows.

Chromium comes from Debian (``apt-get install chromium chromium-driver``; ``make
test`` installs it when it can). Without it the test is skipped only where
apt-get cannot install it; where it could have, the test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.ledger.served import Gateway, served
from tests.reports.seed import ledger_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
POLICY = """
version: 1
name: finance-demo
levels: [public, internal, confidential, restricted]
classification: {default_level: internal, on_error: restricted}
reference_model: openai/gpt-4o
targets:
  local-small: {kind: openai_compatible, api_base: "http://127.0.0.1:9/v1", model: m, residency: on_prem}
models:
  bank-standard: {}
routes:
  - name: default
    targets: [local-small]
budgets:
  - {team: payments, monthly_usd: 2, on_exceed: block}
  - {team: research, monthly_usd: 1, on_exceed: on_prem_only}
  - {team: risk, monthly_usd: 1.5}
  - {team: treasury, monthly_usd: 0.8, soft_threshold: 0.75}
"""


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    message = "Debian's Chromium is needed: apt-get install chromium chromium-driver (.ci/install-chromium does it)"
    if shutil.which("apt-get") is not None and (os.geteuid() == 0 or _passwordless_sudo()):
        pytest.fail(message)  # it could have been installed: `make test` should have done it
    pytest.skip(message + "; apt-get cannot be used here")


def _passwordless_sudo() -> bool:
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def page_gateway(tmp_path: Path) -> Iterator[tuple[Gateway, date, date]]:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=20)
    with served(POLICY, f"sqlite:///{tmp_path}/gw.db", tmp_path, team="finance", roles=("finance",)) as gateway:
        first = datetime(start.year, start.month, start.day, tzinfo=UTC)
        gateway.db.insert_ledger(ledger_rows(first, days=21, per_day=60, seed=11))
        yield gateway, start, today


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    chromium, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not go looking for drivers
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1440,1640", "--force-device-scale-factor=1", "--hide-scrollbars",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-default-apps", "--lang=en-US"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    try:
        yield driver
    finally:
        driver.quit()


def test_the_reports_page_in_chromium(page_gateway: tuple[Gateway, date, date], browser: Any,
                                      tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    gateway, start, end = page_gateway
    period = {"from": start.isoformat(), "to": end.isoformat()}
    browser.get(f"{gateway.url}/reports?from={period['from']}&to={period['to']}")
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                     == "signin")
    browser.find_element(By.ID, "key").send_keys(gateway.key)
    browser.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                     in ("ready", "error"))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready", browser.find_element(
        By.ID, "failure").text

    # The charts are drawn, with data, on canvases that are not blank.
    charts = browser.execute_script("""
        return ["chart-routes", "chart-residency", "chart-savings"].map((id) => {
          const canvas = document.getElementById(id);
          const chart = Chart.getChart(canvas);
          const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
          let inked = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
          return {id, type: chart.config.type, datasets: chart.data.datasets.length,
                  points: chart.data.datasets.reduce((n, d) => n + d.data.length, 0), inked};
        });""")
    for chart in charts:
        assert chart["datasets"] >= 1 and chart["points"] >= 2 and chart["inked"] > 5000, chart
    assert [c["type"] for c in charts] == ["bar", "doughnut", "line"]
    routes = browser.execute_script("return Chart.getChart(document.getElementById('chart-routes')).data")
    assert {d["label"] for d in routes["datasets"]} == {"default", "premium", "sensitive-stays-on-prem"}
    assert len(routes["labels"]) == 21

    # The totals on the page are the API's.
    api = httpx.get(f"{gateway.url}/v1/reports/costs", params={**period, "group_by": "route"},
                    headers=gateway.auth).json()
    totals = api["totals"]
    kpi = browser.find_element(By.ID, "kpi-cost")
    assert kpi.get_attribute("data-value") == totals["cost_usd"]
    assert kpi.text == f"${Decimal(totals['cost_usd']):,.2f}"
    assert browser.find_element(By.ID, "kpi-savings").get_attribute("data-value") == totals["savings_vs_reference_usd"]
    assert browser.find_element(By.ID, "kpi-onprem").get_attribute("data-value") == totals["onprem_savings_usd"]
    assert browser.find_element(By.ID, "kpi-cache").get_attribute("data-value") == totals["cache_saved_usd"]
    footer = browser.find_element(By.CSS_SELECTOR, "#breakdown tfoot td[data-field='cost_usd']")
    assert footer.get_attribute("data-value") == totals["cost_usd"]
    body_rows = browser.find_elements(By.CSS_SELECTOR, "#breakdown tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in body_rows] == [r["route"] for r in api["rows"]]
    teams = browser.find_elements(By.CSS_SELECTOR, "#teams tbody tr")
    assert len(teams) == 5 and "% of $2.00" in " ".join(t.text for t in teams)

    # The CSV export is the API's CSV.
    browser.find_element(By.ID, "export").click()
    deadline = time.monotonic() + 10
    while not list(tmp_path.glob("vaultroute-costs-*.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    [exported] = tmp_path.glob("vaultroute-costs-*.csv")
    expected = httpx.get(f"{gateway.url}/v1/reports/costs", params={**period, "group_by": "route", "format": "csv"},
                         headers=gateway.auth).content
    assert exported.read_bytes() == expected

    # Nothing but the gateway was contacted; the key never went into a cookie.
    urls = _requested_urls(browser)
    assert any(u.startswith(f"{gateway.url}/v1/reports/costs") for u in urls)
    assert f"{gateway.url}/reports/static/chart.umd.min.js" in urls
    outside = [u for u in urls if not (u.startswith(gateway.url + "/") or u.startswith(("data:", "blob:")))]
    assert outside == []
    assert browser.get_cookies() == []
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]

    browser.execute_script("window.scrollTo(0, 0)")
    target = os.environ.get("REPORTS_SCREENSHOT")
    shot = Path(target) if target else tmp_path / "reports.png"
    if not shot.is_absolute():
        shot = ROOT / shot
    shot.parent.mkdir(parents=True, exist_ok=True)
    height, chrome = browser.execute_script(
        "return [Math.ceil(document.querySelector('main').getBoundingClientRect().bottom),"
        " window.outerHeight - window.innerHeight]"
    )
    browser.set_window_size(1440, height + chrome)  # the whole page, no empty band below
    assert browser.save_screenshot(str(shot))


def _requested_urls(browser: Any) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = orjson.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
