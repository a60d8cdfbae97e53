"""Headless Chromium driven over the DevTools protocol on a pipe (standard library only).

``--remote-debugging-pipe`` makes Chromium read JSON commands, each ending in a NUL byte,
from its file descriptor 3 and write replies and events to descriptor 4: no port, no
WebSocket client, no extra package. Used by tests/test_docs_site.py to open the built site.

    with Browser.launch(chromium, profile_dir) as browser:
        browser.open("http://127.0.0.1:8000/index.html")
        title = browser.evaluate("document.title")
        png = browser.screenshot()
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900")


# Resolves true after 5 consecutive animation frames with nothing running (a scroll's
# effects start a frame or two after it), false after TIMEOUT_MS.
SETTLE = """new Promise(done => {
  let still = 0;
  const frame = () => {
    still = document.getAnimations().some(a => a.playState === "running") ? 0 : still + 1;
    if (still >= 5) done(true); else requestAnimationFrame(frame);
  };
  setTimeout(() => done(false), TIMEOUT_MS);
  document.fonts.ready.then(() => requestAnimationFrame(frame));
})"""

def find_chromium() -> str | None:
    """The Chromium executable (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    """The browser answered with an error, or did not answer in time."""


class Browser:
    def __init__(self, process: subprocess.Popen, to_browser: int, from_browser: int):
        self.process, self._out, self._in = process, to_browser, from_browser
        self._buffer, self._next_id = b"", 0
        self._events: list[dict[str, Any]] = []
        self.session: str | None = None

    @classmethod
    def launch(cls, executable: str, profile_dir: str | os.PathLike) -> Browser:
        cmd_r, cmd_w = os.pipe()   # we write commands; Chromium reads fd 3
        ev_r, ev_w = os.pipe()     # Chromium writes fd 4; we read

        def child_fds() -> None:  # fds 3 and 4 in the child, whatever numbers we got
            high_r, high_w = os.dup(cmd_r), os.dup(ev_w)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile_dir}", "--remote-debugging-pipe",
             "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(ev_w)
        browser = cls(process, cmd_w, ev_r)
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        browser.session = browser.call("Target.attachToTarget", targetId=target,
                                       flatten=True)["sessionId"]
        browser.call("Page.enable")
        browser.call("Runtime.enable")
        return browser

    # -- the protocol -------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise BrowserError("no answer from Chromium in time")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise BrowserError("Chromium closed the pipe (did it crash?)")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_event(self, method: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method:
                    return self._events.pop(i)
            self._events.append(self._read_message(deadline))

    # -- what a test does -----------------------------------------------------------------
    def open(self, url: str, timeout: float = 20.0) -> None:
        """Navigate and wait for the load event (scripts have run)."""
        self._events.clear()
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, timeout: float = 20.0) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until the page is still: fonts loaded and no CSS transition or animation
        running for several frames in a row (Material's header cross-fades the site name
        and the page title after a scroll). False if it is still moving after `timeout`."""
        return bool(self.evaluate(SETTLE.replace("TIMEOUT_MS", str(int(timeout * 1000))),
                                  timeout=timeout + 5))

    def screenshot(self, path: str | os.PathLike) -> Path:
        """A PNG of the viewport, taken once the page has settled."""
        self.settle()
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._out)
        os.close(self._in)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
