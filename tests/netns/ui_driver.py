"""A headless chromium inside a namespace, driven through tests/ui/drive.mjs (puppeteer-core).

    browser = Browser(netns="pst-...-gw").start()
    browser.open("main", "http://127.0.0.1:9370/ui/")
    browser.wait("main", "document.querySelector('.card')", timeout_ms=2000)
    browser.stop()

Each call sends one JSON request to the node driver and returns its value, or raises
DriverError with the driver's message (a timed-out wait names its expression). The browser runs
in the gateway's network namespace (nsenter --net, as the fixture runs the daemon), so the page
reaches the daemon on 127.0.0.1 there. missing() names what is not installed."""

import json
import os
import shutil
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
UI_TESTS = os.path.join(os.path.dirname(HERE), "ui")
DRIVER = os.path.join(UI_TESTS, "drive.mjs")
CHROMIUM = os.environ.get("PATHSTEER_CHROMIUM", "/usr/bin/chromium")


class DriverError(RuntimeError):
    pass


def missing():
    """What the browser tests need and do not have (empty when everything is there)."""
    out = []
    if not shutil.which("node"):
        out.append("node (apt install nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        out.append(f"{CHROMIUM} (apt install chromium)")
    for mod in ("puppeteer-core", "axe-core"):
        if not os.path.isdir(os.path.join(UI_TESTS, "node_modules", mod)):
            out.append(f"tests/ui/node_modules/{mod} (scripts/install-deps.sh runs npm ci)")
    return out


class Browser:
    def __init__(self, netns=None, log_path=None):
        self.netns, self.log_path = netns, log_path
        self.proc = None
        self._ids = 0
        self._lock = threading.Lock()
        self.version = None

    def start(self, timeout=30):
        cmd = ["node", DRIVER, "--chromium", CHROMIUM]
        if self.netns:
            cmd = ["nsenter", f"--net=/run/netns/{self.netns}", "--", *cmd]
        err = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        # HOME: chromium wants a writable one for its crash handler and caches.
        env = dict(os.environ, HOME=os.environ.get("HOME") or "/tmp")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=err, text=True, bufsize=1, cwd=UI_TESTS, env=env,
                                     start_new_session=True)
        if err is not subprocess.DEVNULL:
            err.close()
        hello = self._read(timeout)
        self.version = hello["value"]["version"]
        return self

    def _read(self, timeout):
        box = {}

        def reader():
            box["line"] = self.proc.stdout.readline()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            raise DriverError(f"the browser driver did not answer within {timeout} s")
        line = box.get("line")
        if not line:
            raise DriverError(f"the browser driver exited ({self.proc.poll()}); "
                              f"see {self.log_path}")
        return json.loads(line)

    def call(self, op, timeout=60, **args):
        with self._lock:
            self._ids += 1
            req = dict(args, id=self._ids, op=op)
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            answer = self._read(timeout)
        if not answer.get("ok"):
            raise DriverError(f"{op} {args.get('expr', '')}: {answer.get('error')}")
        return answer["value"]

    # Thin names for the requests (tests/ui/drive.mjs lists them).
    def open(self, page, url, **kw):
        return self.call("open", page=page, url=url, **kw)

    def eval(self, page, expr):
        return self.call("eval", page=page, expr=expr)

    def wait(self, page, expr, timeout_ms=5000):
        return self.call("wait", timeout=timeout_ms / 1000 + 30, page=page, expr=expr,
                         timeout_ms=timeout_ms)

    def press(self, page, key):
        return self.call("press", page=page, key=key)

    def type(self, page, text):
        return self.call("type", page=page, text=text)

    def focus(self, page, selector):
        return self.call("focus", page=page, selector=selector)

    def axe(self, page):
        return self.call("axe", page=page)

    def screenshot(self, page, path):
        return self.call("screenshot", page=page, path=path)

    def errors(self, page, clear=False):
        return self.call("errors", page=page, clear=clear)

    def reload(self, page):
        return self.call("reload", page=page)

    def close(self, page):
        return self.call("close", page=page)

    def stop(self, timeout=10):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
        if self.proc.poll() is None:
            # Its own session: the node driver and every chromium process it started.
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.proc = None
