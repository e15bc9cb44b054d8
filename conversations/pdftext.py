"""A PDF's text, read in a process of its own.

    python -m conversations.pdftext MAX_PAGES MAX_CHARS MAX_BYTES < file.pdf

writes one JSON object: {"text": "…"}, or {"error": "encrypted" | "unreadable"}, or
{"error": "pages", "pages": N}. A hostile PDF can make a parser spin or swell: here it
is held to MAX_BYTES of memory, and conversations/files.py kills the process past its
time. The server's own threads never wait on it (pypdf is pure Python and holds the GIL
while it works). Nothing but pypdf and the standard library is imported.
"""

from __future__ import annotations

import io
import json
import resource
import sys


def read(data: bytes, max_pages: int, max_chars: int) -> dict[str, object]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return {"error": "encrypted"}
        pages = reader.pages
        if len(pages) > max_pages:
            return {"error": "pages", "pages": len(pages)}
        parts, length = [], 0
        for page in pages:
            part = page.extract_text() or ""
            parts.append(part)
            length += len(part)
            if length > max_chars:
                break
        return {"text": "\n\n".join(parts).strip()}
    except Exception:  # pypdf raises many types for a damaged or hostile file
        return {"error": "unreadable"}


def main() -> None:
    max_pages, max_chars, max_bytes = (int(arg) for arg in sys.argv[1:4])
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    answer = read(sys.stdin.buffer.read(), max_pages, max_chars)
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
