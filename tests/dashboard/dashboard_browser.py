"""What the dashboard tests share: the pipeline run that makes their data, and the browser wrapper."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

LAPTOP = (1366, 768)


def build_warehouse(home: Path) -> None:
    """extract, load and transform generated data at scale 0.005 into `home`."""
    from grocery import stages
    from grocery.config import PipelineSpec
    from grocery.context import Context

    ctx = Context(spec=PipelineSpec().with_overrides(**{"source.scale": 0.005, "source.seed": 11}), home=home)
    try:
        for stage in stages.select(["extract", "load", "transform"]):
            stage.run(ctx)
    finally:
        ctx.close()


def open_context(home: Path):
    from grocery.context import Context

    return Context(home=home)


class Browser:
    """A headless Chromium page with what the tests check: console messages and requests."""

    def __init__(self, driver) -> None:
        self.driver = driver

    def open(self, page: Path, size: tuple[int, int] = LAPTOP) -> None:
        self.driver.set_window_size(*size)
        self.driver.get_log("browser")
        self.driver.get_log("performance")
        self.url = page.resolve().as_uri()
        self.driver.get(self.url)
        self.wait_for("return document.body && document.body.dataset.ready", timeout=60)
        ready = self.js("return document.body.dataset.ready")
        assert ready == "1", f"the page did not finish rendering: {ready!r}; console: {self.console()}"

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait_for(self, script: str, *args, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(script, *args)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for: {script}")

    def console(self) -> list[dict]:
        return self.driver.get_log("browser")

    def requests(self) -> tuple[list[str], list[str]]:
        """The URLs the page asked for, and the errors of those that failed, since `open`."""
        urls, failures = [], []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.loadingFailed":
                failures.append(message["params"].get("errorText", "?"))
        return urls, failures

    def set_filters(
        self, start: str | None = None, end: str | None = None, category: str | None = None
    ) -> None:
        """Change filters the way a person does (a value, then a change event) and wait for the redraw."""
        before = int(self.js("return Number(document.body.dataset.updates || 0)"))
        changes = [("f-start", start), ("f-end", end)]
        if category is not None:
            option = self.js(
                "return [...document.getElementById('f-category').options].find(o => o.text === arguments[0])?.value",
                category,
            )
            assert option is not None, f"no category option {category!r}"
            changes.append(("f-category", option))
        expected = before
        for element_id, value in changes:
            if value is None:
                continue
            self.js(
                "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                "e.dispatchEvent(new Event('change', {bubbles: true}));",
                element_id,
                value,
            )
            expected += 1
        self.wait_for("return Number(document.body.dataset.updates || 0) >= arguments[0]", expected)

    def kpi(self, key: str) -> str:
        return self.js(f"return document.querySelector('[data-kpi={key}] .value').textContent")

    def chart(self, chart_id: str) -> dict:
        """The first trace of a Plotly chart as drawn: labels (y) and values (x), biggest first."""
        return self.js(
            "const t = document.getElementById(arguments[0]).data[0];"
            "return {labels: [...t.y].reverse(), values: [...t.x].reverse(), text: [...t.text].reverse()};",
            chart_id,
        )

    def full_page_screenshot(self, path: Path) -> None:
        """The whole page at the current width, as one PNG (Chromium renders beyond the viewport)."""
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
