"""A learner's view, in a real browser: JupyterLab in Debian's headless Chromium, driven by Playwright.

The test starts its own JupyterLab on 127.0.0.1 (random port and token, temporary settings with
autosave off, so the notebooks on disk and your own JupyterLab settings are never touched), opens a
notebook, runs all its cells from the Run menu and checks what a learner would see. Screenshots go to
``test-artifacts/browser/``. Without Playwright or Chromium the tests are skipped with a loud reason
(a skip line and a warning), never passed. Install the browser with ``make browser``.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the `chromium` fixture skips the tests, loudly, and says why
    PlaywrightTimeout = TimeoutError

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
START_HERE = "notebooks/00_start_here.ipynb"
CAPSTONE = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("11_*.ipynb"))

# `COURSE_CHROMIUM` points the test at another Chromium (for example on a Mac); Debian's is the default.
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's services, which a
# closed network refuses (and a test should not do anyway).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

# Generous: a slow two-core machine, shared with other work, starting a kernel and a local model.
LAB_START_S = 180
PAGE_S = 180
KERNEL_IDLE_S = 240
RUN_ALL_S = 900
ANSWER_S = 600

# JupyterLab settings for the test's private settings folder. Autosave off: JupyterLab would
# otherwise write the executed notebook (with outputs) back to the repository.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # No news and update checks: no requests to the internet, no toast over the notebook.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}

STDERR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


class BrowserTestSkipped(UserWarning):
    """The real-browser test could not run (no Playwright or no Chromium): it was skipped, not passed."""


def skip_loudly(reason: str) -> None:
    """Skip with ``reason`` and also emit a warning, so the skip shows up in the warnings summary."""
    message = f"REAL-BROWSER TEST NOT RUN: {reason}"
    warnings.warn(message, BrowserTestSkipped, stacklevel=2)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _elapsed(start: float) -> str:
    return f"{time.monotonic() - start:.1f} s"


class Timings:
    """Seconds taken by each step, printed (shown by pytest on failure) and saved as an artifact."""

    def __init__(self, name: str) -> None:
        self.name, self.start, self.steps = name, time.monotonic(), {}

    def mark(self, step: str) -> None:
        self.steps[step] = round(time.monotonic() - self.start, 1)
        print(f"[{self.name}] {step}: {self.steps[step]} s since start")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{self.name}-timings.json").write_text(json.dumps(self.steps, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# Chromium


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """A Chromium browser context (fresh profile), or a loud skip saying why there is none."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        skip_loudly(f"Python package playwright is not importable ({e}); install the test extras: "
                    "pip install -e '.[test]'")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        skip_loudly(f"no Chromium at {CHROMIUM}; install it with `make browser` (Debian: apt-get install "
                    "chromium) or point COURSE_CHROMIUM at a Chromium binary")
    profile = tmp_path_factory.mktemp("chromium-profile")
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, timeout=120_000)
    except PlaywrightError as e:
        pw.stop()
        first_line = str(e).strip().splitlines()[0][:300]
        skip_loudly(f"Chromium at {CHROMIUM} did not start ({first_line}); run "
                    f"`{CHROMIUM} --headless --no-sandbox --dump-dom about:blank` to see why")
    context.set_default_timeout(PAGE_S * 1000)
    try:
        yield context
    finally:
        context.close()
        pw.stop()


# --------------------------------------------------------------------------------------------
# JupyterLab


@dataclass
class Lab:
    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def api(self, method: str, path: str) -> object:
        """Call JupyterLab's REST API with the token; returns the decoded JSON (None when empty)."""
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def page_url(self, relpath: str) -> str:
        # `reset`: start from an empty workspace, not with the notebooks an earlier test opened.
        return f"{self.url}/lab/tree/{relpath}?reset&token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def _lab_environment(tmp: Path) -> dict[str, str]:
    """The environment of the test's JupyterLab: private config, data, runtime and IPython folders."""
    env = dict(os.environ)
    env.update(
        COURSE_MODE="local",
        # The session's local server (tests/conftest.py): the notebook's setup() reuses it.
        COURSE_STATE_DIR=os.environ["COURSE_STATE_DIR"],
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        # The kernel spec is still found: Jupyter also looks in <venv>/share/jupyter, and a
        # Python kernel is always available through ipykernel itself.
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        # The token through the environment, so that it is not visible in the process list.
        JUPYTER_TOKEN=secrets.token_hex(24),
    )
    for name in ("JUPYTER_PATH", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_TOKEN_FILE"):
        env.pop(name, None)  # a learner's own settings must not leak in
    return env


def _write_lab_settings(user_settings: Path) -> None:
    for rel, values in LAB_SETTINGS.items():
        f = user_settings / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values, indent=1))


def _start_lab(tmp: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={ROOT}",
           f"--LabApp.user_settings_dir={tmp / 'config' / 'lab' / 'user-settings'}",
           f"--LabApp.workspaces_dir={tmp / 'config' / 'lab' / 'workspaces'}",
           # Checkpoints (JupyterLab makes one when a notebook is opened) go to the temporary
           # folder, not to notebooks/.ipynb_checkpoints: an absolute path replaces the folder name.
           f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",
           # No package-index lookups from the extension manager.
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root; JupyterLab refuses that otherwise
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_until_answering(lab: Lab, timeout: float) -> bool:
    """True once /api/status answers; False if the process exited (for example, the port was taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            return False
        try:
            lab.api("GET", "/api/status")
            return True
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer on {lab.url} within {timeout:.0f} s. "
                         f"Its log ({lab.log}) ends with:\n{lab.log_tail()}")


def _stop_lab(lab: Lab) -> None:
    """Shut down the kernels, then JupyterLab itself, then any of its children left: all by pid."""
    import psutil

    try:
        for kernel in lab.api("GET", "/api/kernels") or []:
            lab.api("DELETE", f"/api/kernels/{kernel['id']}")
    except (urllib.error.URLError, OSError, ValueError):
        pass  # the process handling below still stops them
    try:
        children = psutil.Process(lab.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    lab.process.terminate()
    try:
        lab.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        lab.process.kill()
        lab.process.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.terminate()
    _, alive = psutil.wait_procs(alive, timeout=10)
    for child in alive:
        child.kill()


@pytest.fixture(scope="module")
def jupyterlab(local_server, tmp_path_factory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with a token and private settings (autosave off); stopped at the end."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    for sub in ("config", "data", "runtime", "ipython", "checkpoints"):
        (tmp / sub).mkdir()
    _write_lab_settings(tmp / "config" / "lab" / "user-settings")
    env = _lab_environment(tmp)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "jupyterlab.log"
    log.write_text("")
    start = time.monotonic()
    lab = None
    for _attempt in range(3):  # a free port can be taken between choosing it and binding it
        port = _free_port()
        lab = Lab(f"http://127.0.0.1:{port}", env["JUPYTER_TOKEN"], _start_lab(tmp, env, port, log), log)
        if _wait_until_answering(lab, LAB_START_S):
            break
    else:
        raise AssertionError(f"JupyterLab exited before answering (3 attempts). Its log ({log}) ends with:\n"
                             f"{lab.log_tail()}")
    print(f"JupyterLab answered on {lab.url} after {_elapsed(start)} (pid {lab.process.pid})")
    try:
        settings = lab.api("GET", "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
        assert settings["settings"].get("autosave") is False, (
            f"JupyterLab did not take the test's settings (autosave is {settings['settings'].get('autosave')!r}); "
            "it would write outputs into the repository's notebooks")
        yield lab
    finally:
        _stop_lab(lab)


# --------------------------------------------------------------------------------------------
# Driving a notebook


@contextmanager
def kept_unchanged(relpath: str) -> Iterator[None]:
    """Fail (after putting the original back) if the notebook file changed on disk meanwhile."""
    path = ROOT / relpath
    before = path.read_bytes()
    try:
        yield
    finally:
        after = path.read_bytes() if path.exists() else None
        if after != before:
            path.write_bytes(before)
            raise AssertionError(f"{relpath} was modified on disk while the browser test ran (JupyterLab saved "
                                 "it?); the original has been restored. Autosave must stay off in the test.")


def settle(page) -> None:
    """Wait for two animation frames, so that the browser has painted what a scroll brought into view."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    settle(page)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@contextmanager
def open_notebook(context, lab: Lab, relpath: str, timings: Timings) -> Iterator[object]:
    """Open ``relpath`` in JupyterLab and wait until its kernel is idle; a screenshot when it fails."""
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    stem = Path(relpath).stem
    for old in ARTIFACTS.glob(f"{stem}-*"):  # screenshots of an earlier run would mislead
        old.unlink()
    try:
        page.goto(lab.page_url(relpath), wait_until="domcontentloaded")
        panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        panel.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible")
        current_tab = page.locator(".lm-DockPanel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
        current_tab.filter(has_text=re.compile(f"^{re.escape(Path(relpath).name)}$")).wait_for(state="visible")
        assert page.locator(".jp-NotebookPanel").count() == 1, "JupyterLab opened other notebooks too"
        timings.mark("notebook shown")
        ready = page.wait_for_function(KERNEL_READY_JS, timeout=KERNEL_IDLE_S * 1000, polling=250).json_value()
        if ready == "dialog":
            shot(page, f"{stem}-dialog")
            raise AssertionError(f"JupyterLab showed a dialog instead of starting the kernel: "
                                 f"{page.locator('.jp-Dialog').first.inner_text()[:500]!r}")
        sessions = [x for x in lab.api("GET", "/api/sessions") if x["path"] == relpath]
        assert sessions and sessions[0]["kernel"]["execution_state"] in ("idle", "busy"), (
            f"JupyterLab shows the kernel as idle, but the server has no running kernel for {relpath}: {sessions}")
        timings.mark("kernel idle")
        shot(page, f"{stem}-1-opened")
        yield page
    except BaseException:
        try:
            shot(page, f"{stem}-failed")
        except Exception:  # the page may be gone; the original error matters more
            pass
        raise
    finally:
        (ARTIFACTS / f"{stem}-console.log").write_text("\n".join(console) + "\n")
        page.close()


# "ready" once the notebook's kernel is connected and idle. The toolbar's indicator alone says "idle"
# for a moment before any kernel exists (and Run All then silently runs nothing); the status bar
# goes "No Kernel | Initializing", "Python 3 (ipykernel) | Connecting", ... "| Idle".
KERNEL_READY_JS = """() => {
  if (document.querySelector('.jp-Dialog')) return 'dialog';
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const indicator = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const bar = [...document.querySelectorAll('.jp-StatusBar-TextItem')].map(e => e.textContent.trim())
    .find(t => t.includes(' | '));
  if (indicator && indicator.dataset.status === 'idle' && bar && /\\| Idle$/.test(bar) && !bar.startsWith('No Kernel'))
    return 'ready';
  return null;
}"""

# Evaluated in the page until it returns a value: "done" when the kernel is idle, no cell is
# queued or running, and every code cell has an execution count (or a cell failed, which
# stops Run All); "stdin" when a cell waits for keyboard input.
EXECUTION_STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  if (panel.querySelector('.jp-Stdin')) return {state: 'stdin'};
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const idle = !!indicator && indicator.dataset.status === 'idle';
  const busy = prompts.some(p => p.includes('*'));
  const numbered = prompts.filter(p => /\\[\\d+\\]/.test(p)).length;
  const errors = [...panel.querySelectorAll('%s')].filter(e => e.textContent.includes('Traceback')).length;
  if (idle && !busy && prompts.length > 0 && (numbered === prompts.length || errors > 0))
    return {state: 'done', cells: prompts.length, numbered: numbered, errors: errors};
  return null;
}""" % STDERR_OUTPUT


STARTED_JS = """() => [...document.querySelectorAll(
  '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"""


def run_all_cells(page, timings: Timings) -> dict:
    """Run → Run All Cells, as a learner would, and wait until execution has finished."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    item = page.locator(".lm-Menu-content > .lm-Menu-item").filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")))
    item.wait_for(state="visible")
    assert "lm-mod-disabled" not in (item.get_attribute("class") or ""), "Run → Run All Cells is disabled"
    item.click()
    timings.mark("run all clicked")
    try:  # a cell queued, running or done: Run All did start
        page.wait_for_function(STARTED_JS, timeout=120_000, polling=500)
    except PlaywrightTimeout:
        raise AssertionError("Run → Run All Cells was clicked but no cell started within 120 s") from None
    state = page.wait_for_function(EXECUTION_STATE_JS, timeout=RUN_ALL_S * 1000, polling=1000).json_value()
    timings.mark("execution finished")
    assert state["state"] != "stdin", "a cell is waiting for keyboard input (input() or getpass()): " \
                                      "notebooks must run without it"
    return state


def traceback_outputs(page) -> list[str]:
    """The text of every output that shows a Python traceback."""
    outputs = page.locator(f".jp-NotebookPanel:not(.lm-mod-hidden) {STDERR_OUTPUT}")
    return [t for t in outputs.all_inner_texts() if "Traceback" in t]


def assert_ran_cleanly(page, state: dict, relpath: str) -> None:
    errors = traceback_outputs(page)
    assert not errors, f"{relpath}: {len(errors)} cell(s) failed in the browser; the first:\n" + errors[0][-3000:]
    assert state["numbered"] == state["cells"], (
        f"{relpath}: only {state['numbered']} of {state['cells']} code cells ran")


# --------------------------------------------------------------------------------------------
# The tests


def test_start_here_runs_in_jupyterlab_and_shows_the_status_table(chromium, jupyterlab) -> None:
    """Run All on the start-here notebook shows the setup status (local mode, no keys) and no error."""

    timings = Timings("00_start_here")
    with kept_unchanged(START_HERE), open_notebook(chromium, jupyterlab, START_HERE, timings) as page:
        state = run_all_cells(page, timings)
        shot(page, "00_start_here-2-executed")
        assert_ran_cleanly(page, state, START_HERE)

        table = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output .course-status").first
        table.wait_for(state="visible")
        table.scroll_into_view_if_needed()
        shot(page, "00_start_here-3-status-table")
        table.screenshot(path=str(ARTIFACTS / "00_start_here-status-table-only.png"))
        text = " ".join(table.inner_text().split())
        # With no keys and COURSE_MODE=local, setup() says so in three plain lines (no per-provider table).
        assert text.startswith("Local mode") and "local server" in text and "lesson 02" in text, text
        assert len(table.inner_text().strip().splitlines()) <= 3, table.inner_text()
    timings.mark("done")


@pytest.mark.skipif(not CAPSTONE, reason="the capstone lesson (notebooks/11_*.ipynb) does not exist yet")
def test_capstone_chat_widget_answers_in_the_browser(chromium, jupyterlab) -> None:
    """Run All on the capstone, then chat through its ipywidgets interface and see the answer rendered.

    The contract the capstone notebook keeps (this test relies on it):

    - After Run All, the notebook shows exactly one chat interface made of ipywidgets.
    - Its text box is a ``widgets.Text`` or ``widgets.Textarea`` whose ``placeholder`` contains the word
      "message" (any case, e.g. "Type a message"); no other text box in the notebook's outputs has such
      a placeholder.
    - Its button is ``widgets.Button(description="Send")``, the only button labelled "Send".
    - Each message is shown in an element with the CSS class ``course-chat-user`` (what you typed) or
      ``course-chat-assistant`` (the model's answer): add it with ``widget.add_class(...)`` or write it in
      the HTML of a ``widgets.HTML`` / ``Output`` (``<div class="course-chat-assistant">...</div>``).
    - A click on Send with text in the box shows the user's message, then adds one new
      ``course-chat-assistant`` element whose text is the answer (non-empty).
    - While the answer is being generated, the Send button is disabled (``button.disabled = True``) and it
      is enabled again when the answer is complete: the test waits for that.
    """
    relpath = CAPSTONE[0]
    stem = Path(relpath).stem
    timings = Timings(stem)
    message = "Say hello to the class in five words."
    with kept_unchanged(relpath), open_notebook(chromium, jupyterlab, relpath, timings) as page:
        state = run_all_cells(page, timings)
        shot(page, f"{stem}-2-executed")
        assert_ran_cleanly(page, state, relpath)

        outputs = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output")
        box = outputs.locator('input[placeholder*="message" i], textarea[placeholder*="message" i]')
        send = outputs.get_by_role("button", name="Send", exact=True)
        box.first.wait_for(state="visible", timeout=120_000)  # widgets render after the cell finishes
        assert box.count() == 1, f"expected one chat text box (placeholder containing 'message'), found {box.count()}"
        assert send.count() == 1, f"expected one button labelled 'Send', found {send.count()}"
        assistant = outputs.locator(".course-chat-assistant")
        user = outputs.locator(".course-chat-user")
        before = assistant.count()

        box.scroll_into_view_if_needed()
        box.fill(message)
        shot(page, f"{stem}-3-typed")
        send.click()
        timings.mark("send clicked")
        user.filter(has_text=message).first.wait_for(state="visible", timeout=60_000)
        page.wait_for_function(
            """([before, selector]) => {
                 const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                 const answers = panel.querySelectorAll(selector + ' .course-chat-assistant');
                 const send = [...panel.querySelectorAll(selector + ' button')]
                   .find(b => b.textContent.trim() === 'Send');
                 return answers.length > before && send && !send.disabled
                   && answers[answers.length - 1].textContent.trim().length > 0;
               }""",
            arg=[before, ".jp-OutputArea-output"], timeout=ANSWER_S * 1000, polling=1000)
        timings.mark("answer rendered")
        answer = assistant.last
        answer.scroll_into_view_if_needed()
        shot(page, f"{stem}-4-answered")
        assert answer.inner_text().strip(), "the assistant's answer is empty"
        assert not traceback_outputs(page), "the chat raised an error:\n" + traceback_outputs(page)[0][-3000:]
    timings.mark("done")
