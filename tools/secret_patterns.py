"""Patterns for the provider API keys this course uses, and a scanner that never prints a whole key.

Usage::

    python tools/secret_patterns.py [FILE ...]   # default: every file git tracks or would add

A line containing ``pragma: allowlist secret`` is skipped, as detect-secrets does. The patterns
require a realistic length, so short dummies such as ``hf_local`` or ``sk-local`` are not flagged.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST_PRAGMA = "pragma: allowlist secret"
_START = r"(?<![A-Za-z0-9_-])"  # a key starts at a word boundary

# Most specific first: a line is reported once per key, under the first pattern that matches.
PATTERNS: dict[str, re.Pattern[str]] = {
    "OpenAI project key": re.compile(_START + r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}"),
    "OpenAI key": re.compile(_START + r"sk-[A-Za-z0-9]{32,}"),
    "Google API key": re.compile(_START + r"AIza[0-9A-Za-z_-]{35}"),
    # Gemini auth keys, the only kind AI Studio creates since 2026: 'AQ.' and 32 or more characters (AQ.Ab...).
    "Google auth key": re.compile(_START + r"AQ\.[0-9A-Za-z_-]{32,}"),
    "Groq key": re.compile(_START + r"gsk_[A-Za-z0-9]{40,}"),
    "Hugging Face token": re.compile(_START + r"hf_[A-Za-z0-9]{30,}"),
}


@dataclass(frozen=True)
class SecretMatch:
    """A key-like string: where it is and a masked form safe to print."""

    line: int
    kind: str
    masked: str


def mask(key: str) -> str:
    """``gsk_abc...xyz1`` -> ``gsk_...xyz1``: the prefix and the last four characters only."""
    prefix = re.match(r"(sk-(?:proj|svcacct|admin)-|sk-|AIza|AQ\.|gsk_|hf_)", key)
    return f"{prefix.group(1) if prefix else ''}...{key[-4:]}"


def find_secrets(text: str) -> list[SecretMatch]:
    """Every key-like string in ``text``, skipping allowlisted lines."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOWLIST_PRAGMA in line:
            continue
        spans: list[tuple[int, int]] = []
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                if any(start <= match.start() < end for start, end in spans):
                    continue
                spans.append(match.span())
                found.append(SecretMatch(number, kind, mask(match.group())))
    return found


def scan_file(path: Path) -> list[SecretMatch]:
    """``find_secrets`` on a text file; binary files (with NUL bytes) are skipped."""
    data = path.read_bytes()
    if b"\0" in data:
        return []
    return find_secrets(data.decode("utf-8", errors="replace"))


def repository_files(root: Path = ROOT) -> list[Path]:
    """Files git tracks plus untracked files it does not ignore (what the next commit could hold)."""
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    return [root / name for name in result.stdout.split("\0") if name and (root / name).is_file()]


def main(argv: list[str] | None = None) -> int:
    """Scan files for provider keys; exit 1 (printing masked keys only) when any is found."""
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] if args else repository_files()
    problems = 0
    for path in paths:
        for match in scan_file(path):
            problems += 1
            print(f"{path}:{match.line}: looks like a {match.kind} ({match.masked})")
    if problems:
        print(
            "Remove the key (keep keys in .env or Colab secrets, never in files), revoke it if it was "
            f"ever committed, or add '# {ALLOWLIST_PRAGMA}' to a line that only holds a fake.",
            file=sys.stderr,
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
