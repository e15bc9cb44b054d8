"""What an uploaded file is, judged by its content alone, and the safe form it is kept in.

`process(name, data)` answers a Processed file or raises InvalidRequest (TooLarge for the
size limits) with a sentence for a person. The name given by the browser only names the
file; it never decides how the bytes are read.

- Images (JPEG, PNG, WebP, GIF, BMP, AVIF) are decoded by Pillow and re-encoded: turned
  upright by their EXIF orientation, converted to sRGB, scaled down to
  ATTACHMENT_IMAGE_MAX_SIDE, saved as JPEG (PNG when they have transparency) with no
  metadata at all. Nothing of the uploaded bytes is kept.
- PDFs keep their file; their text, extracted by pypdf in a process of its own (bounded
  in time and memory: conversations/pdftext.py), is what the model reads.
- Anything else must be text (plain text, Markdown, code, CSV): UTF-8, or UTF-16 with a
  byte order mark, or Windows-1252 (what spreadsheets save); kept as UTF-8.

Refused: empty, truncated or damaged files, decompression bombs, files that are also
markup or another format's container (polyglots), and whatever is none of the above.
No database here: the upload view runs this in a worker thread.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from webchat.errors import InvalidRequest

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF")
# What xAI accepts per image (GROK_API.md §8); a re-encoded image is made to fit it.
UPSTREAM_IMAGE_BYTES = 10 * 1024 * 1024
JPEG_QUALITY = 85
ACCEPTED = (
    "Attach images (JPEG, PNG, WebP, GIF, AVIF), PDFs, or text files "
    "(plain text, Markdown, code, CSV)."
)
# Markup a browser would run, or another format's container hidden in the same bytes.
POLYGLOT = re.compile(
    rb"<(?:script|html|body|svg|iframe|object|embed|!doctype|\?php)[\s>/]|%PDF-", re.I
)
ZIP_END = b"PK\x05\x06"  # a ZIP's end record: a JAR or ZIP appended to an image
# The memory a PDF's reader may take.
PDF_READER_BYTES = 1024 * 1024 * 1024


class TooLarge(InvalidRequest):
    """Over a size limit: answered with HTTP 413."""

    status = 413


@dataclass(frozen=True)
class Processed:
    kind: str  # "image" or "text"
    content_type: str
    data: bytes  # what is stored
    extension: str
    text: str = ""  # what the model reads of a text file or PDF
    width: int | None = None
    height: int | None = None


def display_name(name: str) -> str:
    """The file's own name without any folders or control characters, at most 200 long."""
    base = PurePath(name.replace("\\", "/")).name
    base = "".join(c for c in base if c.isprintable()).strip() or "file"
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 190 - len(ext)] + dot + ext) if dot and len(ext) < 10 else base[:200]
    return base


def process(name: str, data: bytes) -> Processed:
    limit = settings.ATTACHMENT_MAX_MB * 1_000_000
    if not data:
        raise InvalidRequest(f"“{name}” is empty.")
    if len(data) > limit:
        raise TooLarge(
            f"“{name}” is {len(data) / 1_000_000:,.1f} MB; "
            f"the limit is {settings.ATTACHMENT_MAX_MB:g} MB."
        )
    if data.startswith(b"%PDF-"):
        return _pdf(name, data)
    kind = _image_format(data)
    if kind is not None:
        _refuse_polyglot(name, data)
        return _image(name, data)
    return _text(name, data)


# --- Images -----------------------------------------------------------------------------------
def _image_format(data: bytes) -> str | None:
    """The image format Pillow recognises in the first bytes, among those accepted."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as probe:
            return probe.format
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None
    except Image.DecompressionBombError:
        return "bomb"


def _refuse_polyglot(name: str, data: bytes) -> None:
    if POLYGLOT.search(data) or ZIP_END in data[-66_000:]:
        raise InvalidRequest(
            f"“{name}” is an image with something else hidden in it, and was refused."
        )


def _image(name: str, data: bytes) -> Processed:
    damaged = InvalidRequest(f"“{name}” is damaged or incomplete, and could not be read.")
    too_big = InvalidRequest(
        f"“{name}” has too many pixels (at most {settings.ATTACHMENT_IMAGE_MAX_PIXELS:,})."
    )
    with warnings.catch_warnings():
        # Pillow warns, then refuses, past its own pixel limit: both refuse here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as probe:
                if probe.width * probe.height > settings.ATTACHMENT_IMAGE_MAX_PIXELS:
                    raise too_big
                probe.verify()  # the file's structure and checksums, without decoding
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            image.load()  # every pixel: a truncated file fails here
            image = _upright_srgb(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_big from None
        except InvalidRequest:
            raise
        except Exception:  # Pillow's decoders raise many types for a bad file
            raise damaged from None
    side = settings.ATTACHMENT_IMAGE_MAX_SIDE
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    encoded, content_type, extension = _encode(image)
    return Processed(
        "image", content_type, encoded, extension, width=image.width, height=image.height
    )


def _upright_srgb(image: Image.Image) -> Image.Image:
    """The first frame, turned as its EXIF says, in sRGB, RGB or RGBA, with no metadata."""
    image = ImageOps.exif_transpose(image)
    alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    icc = image.info.get("icc_profile")
    image = image.convert("RGBA" if alpha else "RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            image = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: the pixels as they are
    image.info = {}
    return image


def _encode(image: Image.Image) -> tuple[bytes, str, str]:
    if image.mode == "RGBA" and image.getextrema()[3][0] < 255:
        out = io.BytesIO()
        image.save(out, "PNG", optimize=True)
        if out.tell() <= UPSTREAM_IMAGE_BYTES:
            return out.getvalue(), "image/png", ".png"
        # Too large as PNG for the upstream: flattened onto white, as JPEG.
    if image.mode != "RGB":
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
        image = flat
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue(), "image/jpeg", ".jpg"


# --- PDFs and text ----------------------------------------------------------------------------
def _pdf(name: str, data: bytes) -> Processed:
    """The PDF's text, read by conversations/pdftext.py in a process of its own, bounded in
    time and memory."""
    limits = (
        settings.ATTACHMENT_PDF_MAX_PAGES,
        settings.ATTACHMENT_TEXT_MAX_CHARS,
        PDF_READER_BYTES,
    )
    try:
        done = subprocess.run(  # noqa: S603 (our own module, arguments are numbers)
            [sys.executable, "-m", "conversations.pdftext", *map(str, limits)],
            input=data,
            capture_output=True,
            timeout=settings.ATTACHMENT_PDF_SECONDS,
            cwd=settings.BASE_DIR,
            check=False,
        )
        answer = json.loads(done.stdout or b"{}")
    except subprocess.TimeoutExpired:
        raise InvalidRequest(f"“{name}” took too long to read, and was refused.") from None
    except ValueError:
        answer = {}
    if answer.get("error") == "encrypted":
        raise InvalidRequest(f"“{name}” is protected by a password.")
    if answer.get("error") == "pages":
        raise TooLarge(
            f"“{name}” has {answer['pages']:,} pages; "
            f"the limit is {settings.ATTACHMENT_PDF_MAX_PAGES:,}."
        )
    if not isinstance(answer.get("text"), str):
        raise InvalidRequest(f"“{name}” is not a PDF that can be read.")
    if not answer["text"]:
        raise InvalidRequest(f"“{name}” has no text to read (a scanned PDF?).")
    return Processed(
        "text", "application/pdf", data, ".pdf", text=_within_limit(name, answer["text"])
    )


def _text(name: str, data: bytes) -> Processed:
    """UTF-8 text, or text a spreadsheet or an older editor saved: UTF-16 with its byte
    order mark, else Windows-1252. Whatever it was, it is kept as UTF-8."""
    text = _decoded(data)
    sample = (text or "")[:65_536]
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\t\n\r\f")
    if text is None or "\x00" in text or controls > len(sample) // 100:
        raise InvalidRequest(f"“{name}” is not an image, a PDF or text. {ACCEPTED}")
    text = _within_limit(name, text.replace("\r\n", "\n"))
    return Processed("text", "text/plain; charset=utf-8", text.encode(), ".txt", text=text)


def _decoded(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8-sig", "cp1252"]
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _within_limit(name: str, text: str) -> str:
    limit = settings.ATTACHMENT_TEXT_MAX_CHARS
    if len(text) > limit:
        raise TooLarge(f"“{name}” holds {len(text):,} characters of text; the limit is {limit:,}.")
    return text


def fence(name: str, text: str) -> str:
    """A text file as the model reads it: its name, then its text in a code fence longer
    than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    language = PurePath(name).suffix.lstrip(".").lower()
    language = language if language.isalnum() and language not in ("txt", "pdf") else ""
    body = text.rstrip("\n")
    return f"{name}\n{ticks}{language}\n{body}\n{ticks}"
