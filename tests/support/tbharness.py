"""A real TensorBoard server and a real headless Chromium, for tests and screenshots.

Standard library only. `TensorBoard` runs `tensorboard --logdir ...` as a subprocess on
127.0.0.1 and a free port, with `TMPDIR` (where it keeps `.tensorboard-info` and its
data server's files) inside a folder of the caller's. `Browser` drives Chromium through
chromedriver's W3C WebDriver HTTP API, so no Selenium is needed. Both start their
process in a session of its own and, on `stop()` (or leaving the `with` block), end
every process of that session, by id, and wait for them to be gone: nothing is left
behind, even when a test fails.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HOST = "127.0.0.1"

CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
)
INSTALL_HINT = "apt-get install chromium chromium-driver"


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(check, timeout, interval=0.25):
    """Calls `check()` until it returns without AssertionError; re-raises the last one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


# --- processes ----------------------------------------------------------------------


def _session_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            # Fields after the parenthesised command name: state ppid pgrp session ...
            return int(file.read().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def session_processes(session):
    """Ids of the live processes of session `session` (Linux /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and _session_of(int(name)) == session:
            try:
                with open(f"/proc/{name}/stat") as file:
                    if file.read().rsplit(")", 1)[1].split()[0] != "Z":
                        pids.append(int(name))
            except OSError:
                pass
    return pids


def processes_mentioning(text):
    """Ids of live processes whose command line contains `text` (e.g. a temp folder)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as file:
                if text.encode() in file.read():
                    pids.append(int(name))
        except OSError:
            pass
    return pids


class _Process:
    """A subprocess in a new session, ended with everything it started."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log,
                                          stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                          start_new_session=True)
        self.session = self.popen.pid  # setsid: the session id is the leader's pid

    def alive(self):
        return self.popen.poll() is None

    def log_tail(self, chars=3000):
        try:
            with open(self.log_path, errors="replace") as file:
                return file.read()[-chars:]
        except OSError:
            return ""

    def stop(self, grace=5.0):
        """SIGTERM to the session's processes, SIGKILL after `grace` s; waits until gone."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            self._signal(sig)
            if self._gone_within(wait):
                break
        if self.popen.stdin:
            self.popen.stdin.close()
        self.popen.wait(timeout=5)
        left = session_processes(self.session)
        if left:
            raise RuntimeError(f"processes {left} of session {self.session} survived SIGKILL")

    def _signal(self, sig):
        pids = set(session_processes(self.session))
        if self.alive():
            pids.add(self.popen.pid)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _gone_within(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            self.popen.poll()  # reaps the leader
            if not self.alive() and not session_processes(self.session):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


class _Started:
    """`with` support: `start()` on entry; `stop()` on exit, and if `start()` fails."""

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


# --- TensorBoard --------------------------------------------------------------------


class TensorBoard(_Started):
    """`tensorboard --logdir logdir` on 127.0.0.1:<free port>, files kept in `workdir`.

    >>> with TensorBoard(logdir, workdir) as board:
    ...     board.get("/data/runs")
    """

    def __init__(self, logdir, workdir, *, reload_interval=1, timeout=90, cwd=None):
        self.logdir, self.workdir = os.fspath(logdir), os.fspath(workdir)
        self.cwd = cwd  # where a relative logdir is (TensorBoard shows it as given)
        self.reload_interval, self.timeout = reload_interval, timeout
        self.port = None
        self.process = None

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def start(self, wait=True):
        """Starts the server; with `wait`, returns once it answers (see `wait_ready`)."""
        self._launch(0)
        return self.wait_ready() if wait else self

    def _launch(self, attempt):
        tmp = os.path.join(self.workdir, "tmp")
        os.makedirs(tmp, exist_ok=True)
        env = {**os.environ, "TMPDIR": tmp, "TF_CPP_MIN_LOG_LEVEL": "3",
               "CUDA_VISIBLE_DEVICES": ""}
        self.port = free_port()
        self.process = _Process(
            [sys.executable, "-m", "tensorboard.main", "--logdir", self.logdir,
             "--host", HOST, "--port", str(self.port),
             "--reload_interval", str(self.reload_interval)],
            os.path.join(self.workdir, f"tensorboard-{attempt}.log"), env, self.cwd)

    def wait_ready(self, attempts=3):
        """Waits (at most `timeout` s) until the server answers; returns `self`.

        The free port can be taken before the server binds it: then it starts again
        on another, `attempts` times at most.
        """
        for attempt in range(1, attempts + 1):
            try:
                wait_until(self._answers, self.timeout)
                return self
            except (AssertionError, RuntimeError):
                log = self.process.log_tail()
                self.process.stop()
                if "already in use" not in log or attempt == attempts:
                    raise RuntimeError(f"TensorBoard did not start within {self.timeout} s; "
                                       f"its log ends:\n{log}") from None
                self._launch(attempt)

    def _answers(self):
        if not self.process.alive():
            raise RuntimeError("TensorBoard exited")
        try:
            self.get("/data/runs", timeout=2)
        except OSError as error:
            raise AssertionError(f"not answering: {error}") from None

    def stop(self):
        if self.process is not None:
            self.process.stop()

    def get(self, path, timeout=30, **params):
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.load(response)

    def post(self, path, body, timeout=30):
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    # The plugins' JSON endpoints, as TensorBoard's own frontend calls them.

    def runs(self):
        return self.get("/data/runs")

    def histograms(self, run, tag):
        """`[(step, [[left, right, count], ...]), ...]`."""
        return [(step, buckets) for _, step, buckets in
                self.get("/data/plugin/histograms/histograms", run=run, tag=tag)]

    def scalars(self, run, tag):
        """`[(step, value), ...]`."""
        return [(step, value) for _, step, value in
                self.get("/data/plugin/scalars/scalars", run=run, tag=tag)]

    def time_series(self, requests):
        """The Time Series dashboard's batch endpoint: many `{"plugin", "tag"[, "run"]}`
        in one call; each answer has `runToSeries: {run: [{"step", ...}, ...]}`."""
        body = urllib.parse.urlencode({"requests": json.dumps(list(requests))}).encode()
        with urllib.request.urlopen(self.url + "/data/plugin/timeseries/timeSeries",
                                    data=body, timeout=30) as response:
            return json.load(response)

    def session_groups(self, metrics=()):
        body = {"experimentName": "",
                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                    "STATUS_RUNNING"],
                "colParams": [{"hparam": "initializer"}, {"hparam": "seed"}]
                + [{"metric": {"tag": tag}} for tag in metrics],
                "startIndex": 0, "sliceSize": 1000}
        return self.post("/data/plugin/hparams/session_groups", body).get("sessionGroups", [])


# --- Chromium -----------------------------------------------------------------------


def find_chromium():
    """`(chromium, chromedriver)` paths, or None where either is not installed."""
    browser = os.environ.get("CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


# Every text node and element of the page, shadow roots included: TensorBoard's Polymer
# dashboards render inside shadow DOM, which --dump-dom and innerText do not reach.
_DEEP_TEXT = """
const [rootName] = arguments, texts = [], tags = {};
function find(node) {
  if (node.localName === rootName) return node;
  for (const child of [...(node.shadowRoot ? [node.shadowRoot] : []), ...node.children]) {
    const found = find(child);
    if (found) return found;
  }
  return null;
}
function walk(node) {
  if (node.nodeType === Node.TEXT_NODE) {
    const text = node.textContent.trim();
    if (text) texts.push(text);
    return;
  }
  if (node.nodeType === Node.ELEMENT_NODE) {
    tags[node.localName] = (tags[node.localName] || 0) + 1;
    if (node.localName === 'script' || node.localName === 'style') return;
    if (node.shadowRoot) walk(node.shadowRoot);
  }
  for (const child of node.childNodes) walk(child);
}
const root = rootName ? find(document.documentElement) : document;
if (root) walk(root);
return {found: root !== null, text: texts.join('\\n'), tags: tags};
"""


class Browser(_Started):
    """Headless Chromium through chromedriver (WebDriver over HTTP on 127.0.0.1)."""

    def __init__(self, workdir, *, width=1400, height=1000, timeout=60):
        found = find_chromium()
        if found is None:
            raise RuntimeError(f"Chromium or chromedriver is missing: {INSTALL_HINT}")
        self.chromium, self.chromedriver = found
        self.workdir, self.size, self.timeout = os.fspath(workdir), (width, height), timeout
        self.process = self.session_id = None

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        self.port = free_port()
        self.process = _Process([self.chromedriver, f"--port={self.port}",
                                 f"--allowed-ips={HOST}", "--log-level=WARNING",
                                 f"--log-path={os.path.join(self.workdir, 'chromedriver.log')}"],
                                os.path.join(self.workdir, "chromedriver.out"))
        wait_until(self._answers, 30)
        options = {"binary": self.chromium,
                   "args": [*CHROMIUM_ARGS, f"--window-size={self.size[0]},{self.size[1]}",
                            f"--user-data-dir={os.path.join(self.workdir, 'profile')}"]}
        reply = self._call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options,
            "timeouts": {"pageLoad": self.timeout * 1000, "script": 30_000}}}})
        self.session_id = reply["sessionId"]
        self.set_viewport(*self.size)
        return self

    def set_viewport(self, width, height, scale=1):
        """The page's size in CSS pixels (the window's size includes its frame)."""
        self._session("POST", "/goog/cdp/execute", {
            "cmd": "Emulation.setDeviceMetricsOverride",
            "params": {"width": width, "height": height, "deviceScaleFactor": scale,
                       "mobile": False}})

    def _answers(self):
        if not self.process.alive():
            raise RuntimeError(f"chromedriver exited: {self.process.log_tail()}")
        try:
            self._call("GET", "/status", timeout=2)
        except OSError as error:
            raise AssertionError(str(error)) from None

    def _call(self, method, path, body=None, timeout=None):
        request = urllib.request.Request(
            f"http://{HOST}:{self.port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout + 10) as reply:
                return json.load(reply).get("value")
        except urllib.error.HTTPError as error:
            detail = json.load(error).get("value", {})
            raise RuntimeError(f"WebDriver {method} {path}: {detail.get('error')}: "
                               f"{str(detail.get('message'))[:500]}") from None

    def _session(self, method, path, body=None):
        return self._call(method, f"/session/{self.session_id}{path}", body)

    def stop(self):
        if self.process is None:
            return
        try:
            if self.session_id is not None and self.process.alive():
                self._call("DELETE", f"/session/{self.session_id}", timeout=10)
        except (OSError, RuntimeError):
            pass  # the process group goes anyway
        finally:
            self.session_id = None
            self.process.stop()

    def open(self, url):
        self._session("POST", "/url", {"url": url})

    def execute(self, script, *args):
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def page(self, root=None):
        """What is rendered, shadow DOM included: `{"found", "text", "tags"}`.

        `text` joins every text node, `tags` counts the elements by name; both within
        the first element named `root` (e.g. `tf-scalar-dashboard`), else the document.
        """
        return self.execute(_DEEP_TEXT, root)

    def wait_for(self, check, root=None, timeout=30):
        """Polls `check(page(root))` until it passes (see `wait_until`); returns the page."""
        def attempt():
            page = self.page(root)
            assert page["found"], f"no <{root}> on the page"
            check(page)
            return page
        return wait_until(attempt, timeout, interval=0.5)

    def screenshot(self):
        """The viewport as PNG bytes."""
        return base64.b64decode(self._session("GET", "/screenshot"))
