"""The start-here notebook, run with realistic fake keys in the environment, never shows a key."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
START_HERE = ROOT / "notebooks" / "00_start_here.ipynb"


@pytest.mark.skipif(not START_HERE.exists(), reason="no start-here notebook")
def test_start_here_outputs_contain_no_key(monkeypatch, local_server):
    parts = [("OPENAI_API_KEY", "sk-proj-", "Ab3dE5", 8), ("GROQ_API_KEY", "gsk_", "Xy7Q", 13),
             ("GEMINI_API_KEY", "AQ.Ab", "Qw9eRt", 6), ("HF_TOKEN", "hf_", "Kp4sLm", 6)]
    fakes = {name: prefix + chunk * n for name, prefix, chunk, n in parts}
    for name, value in fakes.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COURSE_MODE", "local")  # keys found and shown masked; calls stay on this machine
    nb = nbformat.read(START_HERE, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(START_HERE.parent)}}).execute()
    shown = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    for name, value in fakes.items():
        assert value not in shown, f"the full {name} appears in an output"
        assert value[8:20] not in shown, f"a long piece of {name} appears in an output"
    assert fakes["GROQ_API_KEY"][-4:] in shown, "the key report should show the masked form"
    assert "AQ...." + fakes["GEMINI_API_KEY"][-4:] in shown, "a Gemini auth key is shown as AQ. and its last 4"
