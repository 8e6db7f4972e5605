"""Open a page in real headless Chromium and report what it rendered, with nothing beyond the stdlib.

Chromium is driven over the Chrome DevTools Protocol on a pipe (``--remote-debugging-pipe``:
the browser reads JSON commands from fd 3 and writes replies and events to fd 4, each message
ending in a NUL byte), so no websocket client and no port are needed.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]


def find_chromium() -> Optional[str]:
    """The Chromium executable (Debian's ``chromium`` package, or another common name), or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with a fresh profile; ``with Browser() as b: b.open(path)``."""

    def __init__(self, executable: Optional[str] = None, timeout: float = 60.0):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
        self.timeout, self.next_id, self.events, self.buffer = timeout, 0, [], b""

    def __enter__(self):
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        self.log = open(Path(self.profile.name) / "stderr.log", "w+b")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # A small Python trampoline puts the browser's ends on fds 3 and 4 (moved above 9 first, so
        # neither clobbers the other; dup2 leaves them inheritable) and execs Chromium.
        trampoline = ("import fcntl, os, sys; r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]); "
                      "os.dup2(r, 3); os.dup2(w, 4); os.execv(sys.argv[3], sys.argv[3:])")
        self.process = subprocess.Popen(
            [sys.executable, "-c", trampoline, str(to_browser_r), str(from_browser_w), self.executable, *FLAGS,
             "--remote-debugging-pipe", f"--user-data-dir={self.profile.name}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        return self

    def __exit__(self, *exc):
        try:
            self._send("Browser.close")
        except Exception:  # noqa: BLE001 - closing a browser that already went is fine
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        self.log.close()
        self.profile.cleanup()

    def _stderr_tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        lines = [line for line in self.log.read().decode(errors="replace").splitlines() if "dbus" not in line.lower()]
        return "\n".join(lines[-8:])

    # --------------------------------------------------------------------------- the protocol

    def _send(self, method: str, params: Optional[dict] = None, session: Optional[str] = None) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        return self.next_id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time; its last words:\n" + self._stderr_tail())
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe; its last words:\n" + self._stderr_tail())
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: Optional[dict] = None, session: Optional[str] = None) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept in ``events``."""
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, session: Optional[str] = None) -> dict:
        deadline = time.monotonic() + self.timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method and (session is None or event.get("sessionId") == session):
                return self.events.pop(i)
        while True:
            message = self._receive(deadline)
            if message.get("method") == method and (session is None or message.get("sessionId") == session):
                return message
            self.events.append(message)

    # --------------------------------------------------------------------------- a page

    def open(self, path: Path, width: int = 1280, height: int = 900, media: str = "screen") -> "Page":
        """Load the file ``path`` in a fresh tab of ``width``×``height`` CSS pixels, with CSS ``media``."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        self.call("Emulation.setEmulatedMedia", {"media": media}, session)
        self.call("Page.navigate", {"url": Path(path).resolve().as_uri()}, session)
        self.wait_for("Page.loadEventFired", session)
        return Page(self, session)


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (promises awaited); a thrown error raises here."""
        result = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": True}, self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """A PNG of the page (all of it when ``full_page``), written to ``path``."""
        params = {"format": "png"}
        if full_page:
            size = self.browser.call("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.browser.call("Page.captureScreenshot", params, self.session)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def pdf(self) -> bytes:
        """The page printed to PDF (A4, as a person printing it would get)."""
        result = self.browser.call("Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69}, self.session)
        return base64.b64decode(result["data"])

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors of this page so far."""
        self.evaluate("0")  # a round trip, so every event sent before now has arrived
        out = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.append("exception: " + str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append("log: " + str(params["entry"].get("text")) + " " + str(params["entry"].get("url", "")))
        return out

    def requests(self) -> list[str]:
        """URLs of every request the page made (the page itself included)."""
        self.evaluate("0")
        return [e["params"]["request"]["url"] for e in self.browser.events
                if e.get("sessionId") == self.session and e.get("method") == "Network.requestWillBeSent"]
