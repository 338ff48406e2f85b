"""Harvest the SDKs' own examples at test time from what the installed packages and the package index publish.

The repository keeps none of the examples' code: only ``selection.toml`` (which examples, how they are found,
the recorded substitutions, the outcomes to expect). This module reads, for the versions installed:

* ``readme``    - the package's README, which is its long description in the installed metadata;
* ``sdist``     - a file under ``examples/`` of the package's source distribution, downloaded once per
  version with ``pip download --no-deps --no-binary :all:`` into ``.course/sdk-examples/`` (git-ignored);
* ``docstring`` - a ``>>>`` example in a method's docstring (what the library's reference pages render);
  its prompts and printed output are dropped, as ``doctest`` reads them.

A README block or docstring example is found by a short hash of its text (``block_hash``; written
``sha256:<10 hex digits>`` in the selection), never by its position, so a new SDK version that adds a block
shifts nothing; a block that changed is reported as not found, with the first line recorded in the
selection, and the test that checks the selection fails.
"""
from __future__ import annotations

import doctest
import hashlib
import importlib
import importlib.metadata
import inspect
import re
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SELECTION = HERE.parent / "selection.toml"
ROOT = HERE.parents[2]
CACHE = ROOT / ".course" / "sdk-examples"

FENCE = re.compile(r"^([ \t]*)```([\w+-]*)[^\n]*\n(.*?)^\1```[ \t]*$", re.M | re.S)
PYTHON = {"python", "py", "python3"}


def normalized(text: str) -> str:
    """A block's text without trailing spaces and blank first/last lines (what its hash is taken of)."""
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")


def block_hash(text: str) -> str:
    """The first 10 hex digits of the SHA-256 of the normalized text: how the selection names a block."""
    return hashlib.sha256(normalized(text).encode("utf-8")).hexdigest()[:10]


def python_blocks(markdown: str) -> dict[str, str]:
    """The Python code blocks of a Markdown text, by hash (in the text's order)."""
    return {block_hash(m.group(3)): normalized(m.group(3)) + "\n"
            for m in FENCE.finditer(markdown) if m.group(2).lower() in PYTHON}


def readme_blocks(dist: str) -> dict[str, str]:
    """The Python code blocks of a distribution's README (its long description in the installed metadata)."""
    meta = importlib.metadata.metadata(dist)
    return python_blocks(meta.get_payload() or meta.get("Description") or "")


def docstring_examples(qualname: str) -> dict[str, str]:
    """The ``>>>`` examples of one method's docstring (``module:Class.method``), as code, by hash."""
    module, _, attr = qualname.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    found = {}
    for m in FENCE.finditer(inspect.getdoc(obj) or ""):
        if ">>>" in m.group(3):
            code = "".join(ex.source for ex in doctest.DocTestParser().get_examples(m.group(3)))
            found[block_hash(code)] = code
    return found


class IndexUnreachable(RuntimeError):
    """``pip download`` could not fetch a source distribution (no route to the package index?)."""


def sdist_folder(dist: str) -> Path:
    """The unpacked source distribution of the installed version of ``dist`` (downloaded once per version)."""
    version = importlib.metadata.version(dist)
    folder = CACHE / f"{dist}-{version}"
    if (folder / ".complete").exists():
        return folder
    download = CACHE / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", f"{dist}=={version}",
               "-d", str(download), "--disable-pip-version-check", "--quiet", "--timeout", "15", "--retries", "1"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    archives = sorted(download.glob(f"{dist.replace('-', '_')}-{version}.tar.gz")) + \
        sorted(download.glob(f"{dist}-{version}.tar.gz"))
    if proc.returncode != 0 or not archives:
        last = (proc.stderr.strip().splitlines() or ["no archive"])[-1]
        raise IndexUnreachable(f"pip download of the {dist} {version} source distribution failed: {last}")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archives[0]) as tar:
        top = tar.getnames()[0].split("/")[0]
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(f"{top}/examples/")]
        for member in members:
            member.name = member.name[len(top) + 1:]
        tar.extractall(folder, members=members, filter="data")
    (folder / ".complete").write_text(version)
    return folder


@dataclass
class Example:
    """One selected example: where it comes from, the code to run, and what to expect."""

    name: str                      # "<sdk>/<label>", as reports list it
    dist: str                      # the distribution it is harvested from
    origin: str                    # readme | sdist | docstring
    where: str                     # the file, or the hash (+ method) of the block
    first_line: str = ""
    code: str = ""                 # filled when found
    changes: list[str] = field(default_factory=list)
    expect_error: str = ""         # a regex: the real provider rejects this example with this error
    expect_reason: str = ""
    out_of_scope: str = ""         # why it is listed but not run
    path: Path | None = None       # the assembled file, written under the cache

    @property
    def sdk(self) -> str:
        return self.name.split("/")[0]

    @property
    def source(self) -> str:
        version = importlib.metadata.version(self.dist)
        return f"{self.dist} {version} {self.origin}: {self.where}"


@dataclass
class Harvest:
    examples: list[Example]        # found and in scope
    out_of_scope: list[Example]
    missing: list[str]             # selected but not found: "name: why"
    skipped: list[str]             # whole sources that could not be read: "why"


def load_selection() -> dict:
    with open(SELECTION, "rb") as f:
        return tomllib.load(f)


def harvest(only: list[str] | None = None) -> Harvest:
    """Find every selected example in the installed packages (and sdists), apply the recorded substitutions,
    prepend the preamble blocks it depends on, and write it to ``.course/sdk-examples/run/``."""
    selection = load_selection()
    readmes: dict[str, dict[str, str]] = {}
    sdists: dict[str, Path | IndexUnreachable] = {}
    result = Harvest([], [], [], [])
    run_dir = CACHE / "run"
    for entry in selection["example"]:
        if only and entry["name"] not in only:
            continue
        ex = Example(name=entry["name"], dist=entry["dist"], origin=entry["from"],
                     where=entry.get("file") or " ".join(filter(None, [entry.get("method"), entry.get("block")])),
                     first_line=entry.get("first_line", ""), expect_error=entry.get("expect_error", ""),
                     expect_reason=entry.get("expect_reason", ""), out_of_scope=entry.get("out_of_scope", ""))
        if ex.out_of_scope:
            result.out_of_scope.append(ex)
            continue
        parts: list[tuple[str, str]] = []  # (label, code)
        try:
            if ex.origin == "sdist":
                if ex.dist not in sdists:
                    try:
                        sdists[ex.dist] = sdist_folder(ex.dist)
                    except (IndexUnreachable, subprocess.TimeoutExpired, OSError) as e:
                        sdists[ex.dist] = IndexUnreachable(str(e))
                        result.skipped.append(f"{ex.dist} examples/: {e}")
                folder = sdists[ex.dist]
                if isinstance(folder, IndexUnreachable):
                    continue
                file = folder / entry["file"]
                if not file.exists():
                    raise LookupError(f"{entry['file']} is not in the {ex.dist} source distribution")
                parts.append((entry["file"], file.read_text(encoding="utf-8")))
            else:
                if ex.origin == "readme":
                    pool = readmes.setdefault(ex.dist, readme_blocks(ex.dist))
                else:
                    pool = docstring_examples(entry["method"])
                for named in [*entry.get("before", []), entry["block"]]:
                    wanted = named.removeprefix("sha256:")
                    if wanted not in pool:
                        raise LookupError(f"block {wanted} ({ex.first_line!r}) is not in {ex.source.split(':')[0]}")
                    parts.append((f"{ex.origin} block {wanted}", pool[wanted]))
        except LookupError as e:
            result.missing.append(f"{ex.name}: {e}")
            continue
        code = parts[-1][1]
        for old, new in entry.get("replace", []):
            if old not in code:
                result.missing.append(f"{ex.name}: the recorded substitution {old!r} -> {new!r} no longer applies")
                break
            code = code.replace(old, new)
            ex.changes.append(f"{old!r} -> {new!r} ({entry.get('replace_reason', '')})")
        else:
            if len(parts) > 1:
                ex.changes.insert(0, "preceded by the blocks it builds on: " + ", ".join(p[0] for p in parts[:-1]))
            header = f"# {ex.source}\n# changes: {'; '.join(ex.changes) or 'none'}\n"
            body = "".join(f"\n# --- {label}\n{text.rstrip()}\n" for label, text in parts[:-1])
            ex.code = header + body + (f"\n# --- {parts[-1][0]}\n" if len(parts) > 1 else "\n") + code
            ex.path = run_dir / f"{ex.name.replace('/', '__')}.py"
            ex.path.parent.mkdir(parents=True, exist_ok=True)
            ex.path.write_text(ex.code, encoding="utf-8")
            result.examples.append(ex)
    return result
