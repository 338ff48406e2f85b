import pytest
from test_browser import Timings, kept_unchanged, open_notebook, run_all_cells, assert_ran_cleanly
from test_browser import chromium, jupyterlab  # noqa

def test_broken(chromium, jupyterlab):
    t = Timings("neg-broken")
    rel = "test-artifacts/neg/broken.ipynb"
    with kept_unchanged(rel), open_notebook(chromium, jupyterlab, rel, t) as page:
        state = run_all_cells(page, t)
        print(state)
        assert_ran_cleanly(page, state, rel)

def test_stdin(chromium, jupyterlab):
    t = Timings("neg-stdin")
    rel = "test-artifacts/neg/stdin.ipynb"
    with kept_unchanged(rel), open_notebook(chromium, jupyterlab, rel, t) as page:
        run_all_cells(page, t)

def test_saved(chromium, jupyterlab):
    t = Timings("neg-save")
    rel = "test-artifacts/neg/save.ipynb"
    with kept_unchanged(rel), open_notebook(chromium, jupyterlab, rel, t) as page:
        run_all_cells(page, t)
        page.keyboard.press("Control+s")
        page.locator(".jp-mod-dirty").first.wait_for(state="detached", timeout=30000)
