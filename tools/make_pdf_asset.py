"""Write notebooks/assets/opening_hours.pdf: a one-page PDF with a few lines of text, for lesson 05's PDF section.

The file is built byte by byte with the standard library (no PDF package, no download), so anyone can read and
rebuild it: ``python tools/make_pdf_asset.py`` (``--check`` only reports whether the committed file is current).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ASSET = Path(__file__).resolve().parents[1] / "notebooks" / "assets" / "opening_hours.pdf"
LINES = [
    "City Library - opening hours",
    "Monday to Friday: 9:00 to 19:00",
    "Saturday: 10:00 to 14:00",
    "Sunday: closed",
    "Questions: ask at the front desk.",
]


def _escape(text: str) -> str:
    """A PDF literal string's special characters escaped."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(lines: list[str]) -> bytes:
    """A valid one-page PDF (A4, Helvetica 14 pt) showing ``lines``, with a correct cross-reference table."""
    text = ["BT", "/F1 14 Tf", "18 TL", "72 770 Td"]
    for i, line in enumerate(lines):
        text.append(f"({_escape(line)}) Tj" if i == 0 else f"T* ({_escape(line)}) Tj")
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the committed file is current")
    args = parser.parse_args()
    data = pdf_bytes(LINES)
    if args.check:
        current = ASSET.is_file() and ASSET.read_bytes() == data
        print(f"{ASSET.name}: {'current' if current else 'stale: run python tools/make_pdf_asset.py'}")
        return 0 if current else 1
    ASSET.write_bytes(data)
    print(f"wrote {ASSET} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
