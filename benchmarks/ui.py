"""The web UI against issue 15's targets, in Debian's headless Chromium (Selenium, nothing
downloaded) on a real `berth up` holding 1,000 task instances and 24 hours of metrics
for 10 nodes:

- `first_paint_ms`: Paint Timing's first paint of each page, opened fresh (target < 300),
  and `data_on_screen_ms`, when the page's data is drawn (body's `data-ready`);
- `graph_24h_window_ms`: the live graph switched to a 24-hour window, to its curves redrawn;
- `live_update_s`: a change made over the API (a task submitted, a job created) to its
  row on screen, seen by a MutationObserver (target < 1 s);
- `served_js_css_gzip_bytes`: the UI's JavaScript and CSS as the framework serves them
  gzip-compressed (target < 200 KiB).

The metrics are written before `berth up` starts, through the store's own write path
(`MetricsStore.record`, a sample every `--period` seconds for each node measurement),
then compacted as the framework would (`MetricsStore.compact`).

`berth bench ui [--nodes 10] [--hours 24] [--tasks 1000] [--samples 5]`
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from persistence.database import default_url
from persistence.metric_input import Sample
from persistence.metrics import MetricsStore

ROOT = Path(__file__).resolve().parent.parent
UI = ROOT / "api" / "ui"
PAGES = ("graph", "jobs", "tasks", "images", "services")
NODE_METRICS = ("node_cpus", "node_mem", "node_cpu_used", "node_cpu_incumbent",
                "node_mem_used", "node_mem_incumbent", "node_net_in", "node_net_out",
                "node_disk_read", "node_disk_write", "node_disk", "node_disk_used")
BATCH = 50_000


def fill_metrics(data_dir: Path, nodes: int, hours: float, period: float, now: float) -> dict:
    """`hours` of every node measurement for `nodes` nodes, as the metering would write
    them, into the store `berth up --data-dir data_dir` opens; then one compaction."""
    store = MetricsStore(default_url(data_dir))
    started = time.perf_counter()
    written, batch = 0, []
    ticks = int(hours * 3600 / period)
    for i in range(ticks):
        t = now - hours * 3600 + i * period
        wave = 0.5 + 0.4 * math.sin(i / 500)
        for n in range(nodes):
            tags = {"node": f"node-{n:02d}"}
            values = {"node_cpus": 8.0, "node_mem": 16384.0, "node_cpu_used": 8 * wave,
                      "node_cpu_incumbent": 4 * wave, "node_mem_used": 16384 * wave,
                      "node_mem_incumbent": 8192 * wave, "node_net_in": 1e6 * wave,
                      "node_net_out": 5e5 * wave, "node_disk_read": 2e6 * wave,
                      "node_disk_write": 1e6 * wave, "node_disk": 1e11,
                      "node_disk_used": 5e10}
            batch += [Sample(name, values[name], t, tags) for name in NODE_METRICS]
        if len(batch) >= BATCH:
            written += store.record(batch)
            batch = []
    written += store.record(batch)
    filled = time.perf_counter() - started
    started = time.perf_counter()
    store.compact(now)
    compacted = time.perf_counter() - started
    store.close()
    return {"nodes": nodes, "hours": hours, "period_s": period, "samples": written,
            "fill_s": round(filled, 1), "compact_s": round(compacted, 1)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, method: str, path: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(f"{base}{path}", method=method, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _up(data: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "up", "--nodetype", "lab", "--data-dir", str(data),
         "--host", "127.0.0.1", "--port", str(port), "--master-port", str(_free_port()),
         "--agent-port", str(_free_port()), "--hostname", "ui-bench",
         "--ignore-incumbent", "--registry-port", "0"],
        cwd=ROOT, stdout=log.open("a"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"berth up ended: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            if _call(base, "GET", "/admin/ping") == 200:
                return proc, base
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("berth up did not answer in 120 s")


def _browser():
    if not Path("/usr/bin/chromedriver").exists() or not shutil.which("chromium"):
        raise RuntimeError("no chromium/chromedriver: run scripts/browser.sh")
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-features=BackForwardCache", "--window-size=1280,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(60)
    return driver


def _until(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if value := predicate():
                return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _name(page: str) -> str:
    """The page a hash route shows (#/jobs/NAME: `job`, #/services/NAME: `service`)."""
    first, _, rest = page.partition("/")
    return first[:-1] if rest else first


def _open(driver, base: str, page: str) -> dict:
    """The page opened fresh; its paint timings once its data is on screen."""
    for attempt in range(3):  # Chromium aborts loads when Docker's veths come or go
        driver.get("about:blank")
        driver.get(f"{base}/ui/#/{page}")
        try:
            _until(lambda: driver.execute_script(
                "return document.body.dataset.page === arguments[0] && "
                "!!document.body.dataset.ready", _name(page)), f"the {page} page", 30)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    return driver.execute_script("""
        const paint = Object.fromEntries(performance.getEntriesByType('paint')
            .map(e => [e.name, Math.round(e.startTime)]));
        return {first_paint: paint['first-paint'] ?? null,
                data_on_screen: Math.round(Number(document.body.dataset.ready))};""")


WATCH = """
    window.__seen = null;
    const [selector, root, text] = arguments;
    const found = () => [...document.querySelectorAll(selector)]
      .some(row => text === null || row.children[1]?.textContent === text);
    new MutationObserver((_, obs) => {
      if (found()) { window.__seen = Date.now(); obs.disconnect(); }
    }).observe(document.querySelector(root), {childList: true, subtree: true});"""


def _latency(driver, base: str, selector: str, root: str, method: str, path: str,
             body: bytes, text: str | None = None) -> float:
    """A change asked for over the API to `selector` (its second cell `text`) on screen."""
    driver.execute_script(WATCH, selector, root, text)
    asked = time.time()
    status = _call(base, method, path, body)
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status}")
    seen = _until(lambda: driver.execute_script("return window.__seen"), selector, 30)
    return seen / 1000 - asked


def _graph_24h(driver) -> float:
    """The live graph switched to 24 hours: ms until its node's CPU chart is redrawn."""
    return driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const old = document.getElementById('node-cpu');  // draw() makes new charts
        const started = performance.now();
        new MutationObserver((_, obs) => {
          const now = document.getElementById('node-cpu');
          if (now && now !== old && now.dataset.points) {
            obs.disconnect(); done(performance.now() - started);
          }
        }).observe(document.getElementById('node-charts'),
                   {childList: true, subtree: true, attributes: true});
        document.getElementById('unit').value = 'h';
        const amount = document.getElementById('amount');
        amount.value = '24';
        amount.dispatchEvent(new Event('change'));""")


def _served_size(base: str) -> dict:
    sizes = {}
    for path in sorted(UI.rglob("*")):
        rel = path.relative_to(UI).as_posix()
        if path.suffix not in (".js", ".css"):
            continue
        request = urllib.request.Request(f"{base}/ui/{rel}", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            sizes[rel] = len(answer.read())
    return {"bytes": sum(sizes.values()), "largest": max(sizes.items(), key=lambda kv: kv[1]),
            "files": len(sizes)}


def run(nodes: int = 10, hours: float = 24.0, tasks: int = 1000, samples: int = 5,
        period: float = 5.0) -> dict:
    result: dict = {"benchmark": "ui"}
    with tempfile.TemporaryDirectory(prefix="berth-bench-ui-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        result["metrics"] = fill_metrics(data, nodes, hours, period, time.time())
        proc, base = _up(data, Path(tmp) / "berth-up.log")
        driver = None
        try:
            job = (b'{"name": "many", "type": "batch", "completions": %d, "parallelism": %d, '
                   b'"task": {"dockerimage": "berth/busybox", "cpus": 512, "mem": 16, '
                   b'"arguments": ["true"]}}' % (tasks, tasks))
            if _call(base, "POST", "/v1/jobs", job) != 201:
                raise RuntimeError("the 1,000-instance job was refused")
            _until(lambda: _pending(base) >= tasks, f"{tasks} instances", 120)
            driver = _browser()
            _open(driver, base, "graph")  # warm: the first start of Chromium is not a page
            paints = {page: _open(driver, base, page) for page in PAGES}
            paints[f"job ({tasks} instances)"] = _open(driver, base, "jobs/many")
            result["first_paint_ms"] = {k: v["first_paint"] for k, v in paints.items()}
            result["data_on_screen_ms"] = {k: v["data_on_screen"] for k, v in paints.items()}
            _open(driver, base, "graph")
            result["graph_24h_window_ms"] = round(_graph_24h(driver))
            result["live_update_s"] = _live(driver, base, samples)
            result["served_js_css_gzip"] = _served_size(base)
        finally:
            if driver is not None:
                driver.quit()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    result["targets"] = {"first_paint_ms": 300, "live_update_s": 1.0,
                         "served_js_css_gzip_bytes": 200 * 1024}
    return result


def _pending(base: str) -> int:
    with urllib.request.urlopen(f"{base}/v1/jobs/many", timeout=30) as answer:
        return json.loads(answer.read()).get("pending", 0)


def _live(driver, base: str, samples: int) -> dict:
    out = {}
    _open(driver, base, "tasks")
    tasks = [_latency(driver, base, "#tasks tbody tr[data-task]", "#tasks", "POST",
                      "/v1/tasks", b'{"id": "probe%d", "dockerimage": "berth/busybox", '
                      b'"cpus": 512, "mem": 16, "arguments": ["true"]}' % n, f"probe{n}")
             for n in range(samples)]
    _open(driver, base, "jobs")
    jobs = [_latency(driver, base, f'tr[data-job="probe-job{n}"]', "#view", "POST", "/v1/jobs",
                     b'{"name": "probe-job%d", "type": "batch", "task": {"dockerimage": '
                     b'"berth/busybox", "cpus": 512, "mem": 16, "arguments": ["true"]}}' % n)
            for n in range(samples)]
    for name, values in (("task_to_tasks_page", tasks), ("job_to_jobs_page", jobs)):
        out[name] = {"median": round(statistics.median(values), 3),
                     "max": round(max(values), 3), "samples": len(values)}
    return out
