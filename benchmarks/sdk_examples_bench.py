"""How many of the SDKs' own published examples run unchanged against the course's local server (issue 15).

The examples are harvested when the bench runs, from what the installed SDKs and the package index publish:
README code blocks (the packages' metadata), ``examples/*.py`` of openai's and groq's source distributions
(``pip download``, cached per version under ``.course/sdk-examples/``) and huggingface_hub's ``InferenceClient``
docstring examples. Which ones, how each is found, the recorded substitutions and the expected outcomes are in
``tests/sdk_examples/selection.toml`` (see that folder's README.md). Each runs in its own Python process in
local mode (``helpers.setup("local")``, as a notebook's first cell does), with a time limit, under a network
guard that refuses any connection beyond loopback. It passes when it exits without an error, or when it fails
with the error the real provider gives too (``expect_error``). The aim is 95 % or more.

    python benchmarks/sdk_examples_bench.py              # starts the local server if it is not running
    python benchmarks/sdk_examples_bench.py --verbose    # each example as it finishes
    python benchmarks/sdk_examples_bench.py genai/readme_chat openai/demo   # only these

Each failure gets a one-word category, so the server work can be checked against the list:

==========  ==================================================================================
escape      the example tried to reach a host beyond loopback (the guard refused it), or local mode stopped
            the call before it left (``helpers.offline.LocalModeBlocked``): the local rerouting missed it
route       the local server has no such endpoint (404 for a path), or nothing listens there
model       the model id is unknown to the local server
schema      a JSON schema (structured output, tool parameters) the server rejected or mishandled
shape       the answer's shape is not what the SDK or the example expects (parse/attribute errors)
task        a Hugging Face task or provider feature the local server does not do
timeout     no answer within the time limit
dependency  the example imports a package that is not installed (the test extra has them)
==========  ==================================================================================
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "tests" / "sdk_examples"
HARNESS = EXAMPLES / "_harness"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HARNESS))

from harvest import Example, Harvest, harvest  # noqa: E402  (tests/sdk_examples/_harness/harvest.py)

AIM = 0.95
TIME_LIMIT = 60.0  # seconds per example
# Variables from the caller's environment that would take an example out of plain local mode.
CLEARED = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "GROQ_API_KEY", "GROQ_BASE_URL", "GEMINI_API_KEY",
           "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "HF_TOKEN", "HF_HUB_OFFLINE", "GOOGLE_GENAI_USE_VERTEXAI",
           "GOOGLE_GENAI_USE_ENTERPRISE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
           "all_proxy", "PYTHONSTARTUP"]


@dataclass
class Outcome:
    example: Example
    ok: bool
    seconds: float
    category: str = ""
    cause: str = ""
    escapes: list[str] = field(default_factory=list)
    output: str = ""
    as_documented: bool = False  # failed with the error the real provider gives too (counts as passing)


def examples(only: list[str] | None = None) -> Harvest:
    """Harvest the selected examples (or only those named ``sdk/name``) from the installed packages and the
    package index (``tests/sdk_examples/selection.toml``, ``_harness/harvest.py``)."""
    return harvest(only)


# ---------------------------------------------------------------------- one example

def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def categorize(stderr: str, escapes: list[str], timed_out: bool) -> str:
    """The one-word category of a failure (see the module docstring)."""
    if escapes or "NetworkEscape" in stderr or "LocalModeBlocked" in stderr:
        return "escape"  # reached beyond loopback, or was stopped by local mode before it could
    if timed_out:
        return "timeout"
    last = _last_line(stderr)
    low = stderr.lower()
    if "ModuleNotFoundError" in last or "must have installed the package with" in last:
        return "dependency"
    if re.search(r"model[^\n]{0,80}(not found|does not exist|not supported|unknown|decommissioned)", low) \
            or "model_not_found" in low:
        return "model"
    if "connection refused" in low or "connecterror" in low or "apiconnectionerror" in low \
            or re.search(r"\b(404|405)\b", last) or "not found" in last.lower():
        return "route"
    if "schema" in low or "json_validate_failed" in low or "structured" in low:
        return "schema"
    if "task" in low and ("not supported" in low or "not available" in low or "no recommended model" in low):
        return "task"
    return "shape"


def run_one(ex: Example, env: dict[str, str], time_limit: float = TIME_LIMIT) -> Outcome:
    """Run one example in a fresh Python process, in an empty working folder; never raises."""
    with tempfile.TemporaryDirectory(prefix="sdk-example-") as work:
        log = Path(work) / ".escapes"
        env = {**env, "SDK_EXAMPLES_ESCAPES": str(log)}
        t0 = time.perf_counter()
        timed_out = False
        try:
            proc = subprocess.run([sys.executable, str(HARNESS / "run_example.py"), str(ex.path)], cwd=work,
                                  env=env, capture_output=True, text=True, timeout=time_limit,
                                  stdin=subprocess.DEVNULL)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as e:
            timed_out, code = True, None
            out = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = (e.stderr or b"").decode("utf-8", "replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        seconds = time.perf_counter() - t0
        escapes = sorted(set(log.read_text().split())) if log.exists() else []
    ok = code == 0 and not escapes
    if ok:
        return Outcome(ex, True, seconds, output=out)
    if ex.expect_error and code not in (0, None) and not escapes and re.search(ex.expect_error, _last_line(err)):
        return Outcome(ex, True, seconds, cause=_last_line(err)[:300], output=out, as_documented=True)
    category = categorize(err, escapes, timed_out)
    if timed_out:
        cause = f"no result within {time_limit:.0f} s"
    elif escapes and code == 0:
        cause = "finished, but tried to reach " + ", ".join(escapes)
    else:
        cause = _last_line(err) or f"exit code {code}"
        blocked = [ln.strip() for ln in err.splitlines() if "LocalModeBlocked:" in ln]
        if blocked:  # the SDK wraps it (APIConnectionError); its first sentence says where the call went
            cause = blocked[-1].split(". ")[0] + f" -> {cause}"
        if escapes:
            cause = f"tried to reach {', '.join(escapes)}: {cause}"
    return Outcome(ex, False, seconds, category, cause[:300], escapes, out)


def example_env(state_dir: str | None, extra_paths: list[str] | None = None) -> dict[str, str]:
    """The environment each example runs in: local mode, the guard first on PYTHONPATH, no keys of the caller.

    ``extra_paths``: folders of packages the course does not install (to measure the examples that need them).
    """
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update({"COURSE_MODE": "local", "SDK_EXAMPLES_LOCAL": "1", "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join([str(HARNESS), str(ROOT), *(extra_paths or [])]),
                "PYTHONDONTWRITEBYTECODE": "1",
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    if state_dir:
        env["COURSE_STATE_DIR"] = state_dir
    return env


# ---------------------------------------------------------------------- the suite

def run(only: list[str] | None = None, *, jobs: int = 2, time_limit: float = TIME_LIMIT, verbose: bool = False,
        extra_paths: list[str] | None = None) -> dict:
    """Harvest the selected examples and run them against the local server of ``COURSE_STATE_DIR`` (started
    if needed).

    Returns total (examples run), passed, share, the outcomes, counts per SDK and per source, the examples out
    of scope, those selected but not found (``missing``), the sources that could not be read (``skipped``), the
    hosts beyond loopback any example tried to reach, and the seconds taken.
    """
    from helpers.server import lifecycle

    t0 = time.perf_counter()
    found = examples(only)
    lifecycle.base_url()  # find (or start) the server before the examples look for it
    env = example_env(os.environ.get("COURSE_STATE_DIR"), extra_paths)

    def one(ex: Example) -> Outcome:
        outcome = run_one(ex, env, time_limit)
        if verbose:
            mark = "ok " if outcome.ok else f"BAD {outcome.category:<10}"
            print(f"{mark} {outcome.seconds:5.1f}s {ex.name:<44} {outcome.cause}", flush=True)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(one, found.examples))
    by: dict[str, list[int]] = {}
    for o in outcomes:
        for key in (o.example.sdk, f"{o.example.sdk} {o.example.origin}"):
            counts = by.setdefault(key, [0, 0])
            counts[0] += bool(o.ok)
            counts[1] += 1
    passed = sum(bool(o.ok) for o in outcomes)
    return {"total": len(outcomes), "passed": passed, "share": passed / max(1, len(outcomes)),
            "outcomes": outcomes, "by": by, "out_of_scope": found.out_of_scope, "missing": found.missing,
            "skipped": found.skipped, "seconds": time.perf_counter() - t0,
            "escapes": sorted({f"{o.example.name}: {h}" for o in outcomes for h in o.escapes})}


def report(result: dict) -> str:
    """The figures: total, passed, share, per SDK and source, then what was not run and each failure."""
    lines = [f"SDK examples run unchanged in local mode: {result['passed']}/{result['total']} passed = "
             f"{result['share']:.0%} (aim: {AIM:.0%} or more; {result['seconds']:.0f} s)"]
    for key, (good, total) in sorted(result["by"].items()):
        lines.append(f"  {key:<24} {good}/{total}")
    for text in result.get("skipped", []):
        lines.append(f"  SKIPPED, NOT MEASURED: {text}")
    for text in result.get("missing", []):
        lines.append(f"  SELECTED BUT NOT FOUND: {text}")
    documented = [o for o in result["outcomes"] if o.as_documented]
    if documented:
        lines.append("counted as passing: they fail as the real provider does")
        for o in documented:
            lines.append(f"  {o.example.name:<40} {o.example.expect_reason}")
    if result.get("out_of_scope"):
        lines.append(f"{len(result['out_of_scope'])} out of scope, not run (see tests/sdk_examples/selection.toml)")
    failures = [o for o in result["outcomes"] if not o.ok]
    if failures:
        lines.append("failures (example, category, last line of the error):")
        for o in sorted(failures, key=lambda o: (o.category, o.example.name)):
            lines.append(f"  {o.example.name:<40} {o.category:<10} {o.cause}")
    missing = sum(o.category == "dependency" for o in failures)
    if missing:
        lines.append(f"{missing} fail only because a package is not installed: install the course's test extra "
                     f"(pip install -c requirements/constraints-py3.X.txt -e \".[lab,test]\", or make setup)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only these examples (sdk/name, as listed in the report)")
    parser.add_argument("--list", action="store_true", help="list the harvested examples and their sources")
    parser.add_argument("--verbose", action="store_true", help="print each example as it finishes")
    parser.add_argument("--jobs", type=int, default=2, help="examples run at the same time (default 2)")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds per example")
    parser.add_argument("--with-path", action="append", default=[], metavar="DIR",
                        help="a folder of packages this environment lacks, added to the examples' PYTHONPATH "
                             "(without the test extra: `pip install --target DIR rich aiohttp httpx-aiohttp`)")
    args = parser.parse_args()
    os.environ["COURSE_MODE"] = "local"
    if args.list:
        found = examples(args.only or None)
        for ex in found.examples:
            print(f"{ex.name:<44} {ex.source}" + (f" [changes: {'; '.join(ex.changes)}]" if ex.changes else ""))
        for ex in found.out_of_scope:
            print(f"{ex.name:<44} out of scope: {ex.out_of_scope}")
        for text in found.missing + found.skipped:
            print(f"NOT FOUND: {text}")
        return
    print(report(run(args.only or None, jobs=args.jobs, time_limit=args.time_limit, verbose=args.verbose,
                     extra_paths=args.with_path)))


if __name__ == "__main__":
    main()
