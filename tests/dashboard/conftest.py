"""Fixtures of the dashboard tests: a warehouse built by the real pipeline, the page, and Chromium.

The warehouse comes from `extract`, `load` and `transform` at scale 0.005, once per session. The
browser is Debian's chromium driven by its chromedriver through Selenium (no driver download:
the paths are given and Selenium Manager is told to stay offline). Chromium runs headless with a
proxy that refuses every connection, and the tests also read Chromium's own record of the page's
requests: a page that tried to fetch anything would fail them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from dashboard_browser import Browser, build_warehouse, open_context

CHROMIUM = Path(os.environ.get("GROCERY_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("GROCERY_CHROMEDRIVER", "/usr/bin/chromedriver"))


@pytest.fixture(scope="session")
def pipeline_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose warehouse holds the sales marts; shared, never modify it."""
    home = tmp_path_factory.mktemp("dashboard-home")
    build_warehouse(home)
    return home


@pytest.fixture(scope="session")
def page(pipeline_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dashboard of `pipeline_home`, rendered once."""
    from grocery import dashboard

    output = tmp_path_factory.mktemp("page") / "index.html"
    ctx = open_context(pipeline_home)
    try:
        dashboard.render(ctx, output)
    finally:
        ctx.close()
    return output


@pytest.fixture
def warehouse(pipeline_home: Path):
    """The pipeline's warehouse, for the figures the page must show."""
    ctx = open_context(pipeline_home)
    try:
        yield ctx.warehouse
    finally:
        ctx.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing: run scripts/setup.d/10-chromium.sh")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
        # Anything the page tried to fetch would go to this proxy, which refuses every connection.
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield Browser(driver)
    finally:
        driver.quit()


@pytest.fixture
def private_home(pipeline_home: Path, tmp_path: Path) -> Path:
    """A copy of the pipeline's home that a test may change (add marts to)."""
    home = tmp_path / "home"
    shutil.copytree(pipeline_home, home, ignore=shutil.ignore_patterns("dbt"))
    return home
