"""A headless chromium driven over the DevTools protocol (for pages behind a sign-in form).

``--dump-dom`` cannot sign in; this opens one page target, types into forms through
``Runtime.evaluate``, waits for loads, and records every request the page made (``Network``
events), so a test can hold that none left the machine. Names other than the test's own host
resolve to nothing (``--host-resolver-rules``), as in the redirect's offline-docs test.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--disable-features=AutofillServerCommunication,MediaRouter,OptimizationHints",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


class Browser:
    """One chromium and one page; ``requests`` holds every URL the page asked for."""

    def __init__(self, exe: str, profile: Path, downloads: Path | None = None) -> None:
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                      "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self._socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=20)
        self.ws = self._socket.__enter__()
        self.ids = itertools.count(1)
        self.requests: list[str] = []
        self.events: list[dict] = []
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Runtime.enable")
        if downloads is not None:
            try:
                self.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
            except RuntimeError:  # older chromium: only the page's form
                self.call("Page.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))

    def _event(self, msg: dict) -> None:
        if msg.get("method") == "Network.requestWillBeSent":
            self.requests.append(msg["params"]["request"]["url"])
        self.events.append(msg)

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        n = next(self.ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if msg.get("id") == n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        """The next event ``method`` (events already seen since the last wait are looked at first)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    del self.events[: i + 1]
                    return e
            self.events.clear()
            self._event(json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1))))

    def open(self, url: str) -> str:
        """Navigate and wait for the load; the page's HTML."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        return self.html()

    def run(self, expression: str):
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(out["exceptionDetails"])
        return out["result"].get("value")

    def submit(self, expression: str) -> str:
        """Run ``expression`` (which submits a form) and wait for the page it leads to."""
        self.events.clear()
        self.run(expression)
        self.wait_for("Page.loadEventFired")
        return self.html()

    def html(self) -> str:
        return self.run("document.documentElement.outerHTML")

    def url(self) -> str:
        return self.run("location.href")

    def screenshot(self, path: Path) -> None:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
