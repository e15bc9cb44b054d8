"""What an uploaded file is, judged by its content alone, and the safe form it is kept in.

`process_apart(name, data, limits)` answers a Processed file or raises InvalidRequest
(TooLarge for the size limits) with a sentence for a person, in their language. The work
is done by `process()` in a process of its own (`python -m conversations.files`), held to
`limits.memory` bytes and killed past `limits.seconds`: a file made to cost a decoder
minutes or gigabytes costs the server nothing more, and a cancelled upload kills it. The
name given by the browser only names the file; it never decides how the bytes are read.

- Images (JPEG, PNG, WebP, GIF, BMP, AVIF) are decoded by Pillow and re-encoded: turned
  upright by their EXIF orientation, converted to sRGB, scaled down to
  ATTACHMENT_IMAGE_MAX_SIDE (a long screenshot keeps half of it across: kept_size), saved
  with no metadata at all: as PNG when they have
  transparency, or were drawn in a lossless format (PNG, GIF, BMP) and stay small as PNG
  (a screenshot, a chart: its text stays sharp); as JPEG otherwise (a photo, whatever it
  came as). Nothing of the uploaded bytes is kept. An image larger than PREVIEW_SIDE also
  gets a small WebP preview, which a message shows in place of the whole image.
- PDFs keep their file; their text, extracted by pypdf, is what the model reads.
- Anything else must be text (plain text, Markdown, code, CSV): UTF-8, or UTF-16 with a
  byte order mark, or Windows-1252 (what spreadsheets save); kept as UTF-8.

Refused: empty, truncated or damaged files, decompression bombs (too many pixels, too
many scans), files that are also markup or another format's container (polyglots), and
whatever is none of the above. Nothing here touches the database, and only
Limits.from_settings() (in the server) reads Django's settings.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import re
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from webchat.errors import InvalidRequest

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF")
# A JPEG with a multi-picture index (a phone's portrait photo) opens as "MPO".
JPEG_FORMATS = ("JPEG", "MPO")
# What xAI accepts per image (GROK_API.md §8); a re-encoded image is made to fit it.
UPSTREAM_IMAGE_BYTES = 10 * 1024 * 1024
JPEG_QUALITY = 85
# An image in these stays PNG while that is at most twice its size as JPEG: a screenshot
# is smaller as PNG and sharper; a photo saved as PNG is several times larger.
LOSSLESS_FORMATS = ("PNG", "GIF", "BMP")
PNG_KEPT_UP_TO = 2
# How long a long image may be kept, in times ATTACHMENT_IMAGE_MAX_SIDE (see kept_size).
LONG_SIDES = 4
# A message shows an image in a tile of at most 18 by 14 rem (288 by 224 CSS pixels): a
# preview of this many pixels on its longer side fills it sharply on a phone's screen (two
# or three device pixels to the CSS pixel), at a tenth or so of a full image's bytes.
PREVIEW_SIDE = 768
PREVIEW_QUALITY = 80
# The unit of the size limits (ATTACHMENT_MAX_MB, IMPORT_MAX_MB, a plan's storage), as the
# pages write sizes (Django's filesizeformat, static/js/attachments.js): "20.0 MB" is a limit
# of 20, never 19.1.
MB = 1024 * 1024


def gettext_noop(message: str) -> str:
    """Marks a sentence for the catalogs (makemessages knows the name); Django's own needs
    settings, which the reading process has none of."""
    return message


# Each refusal's sentence, by its key: the reading process (no Django settings, so no
# language) sends the key and the figures; the server says it in the person's language.
SENTENCES = {
    "empty": gettext_noop("“%(name)s” is empty."),
    "bytes": gettext_noop("“%(name)s” is %(size)s MB; the limit is %(limit)s MB."),
    "slow": gettext_noop("“%(name)s” took too long to read, and was refused."),
    "complex": gettext_noop("“%(name)s” is too large or too complex to read."),
    "polyglot": gettext_noop(
        "“%(name)s” is an image with something else hidden in it, and was refused."
    ),
    "damaged": gettext_noop("“%(name)s” is damaged or incomplete, and could not be read."),
    "pixels": gettext_noop("“%(name)s” has too many pixels (at most %(most)s)."),
    "password": gettext_noop("“%(name)s” is protected by a password."),
    "pages": gettext_noop("“%(name)s” has %(pages)s pages; the limit is %(limit)s."),
    "not_pdf": gettext_noop("“%(name)s” is not a PDF that can be read."),
    "scanned": gettext_noop("“%(name)s” has no text to read (a scanned PDF?)."),
    "unknown": gettext_noop(
        "“%(name)s” is not an image, a PDF or text. Attach images (JPEG, PNG, WebP, GIF, "
        "BMP, AVIF), PDFs, or text files (plain text, Markdown, code, CSV)."
    ),
    "chars": gettext_noop("“%(name)s” holds %(chars)s characters of text; the limit is %(limit)s."),
}
# Markup a browser would run, or another format's container hidden in the same bytes.
POLYGLOT = re.compile(
    rb"<(?:script|html|body|svg|iframe|object|embed|!doctype|\?php)[\s>/]|%PDF-", re.I
)
ZIP_END = b"PK\x05\x06"  # a ZIP's end record: a JAR or ZIP appended to an image
UNSTORABLE = re.compile("[\ud800-\udfff]")
# A progressive JPEG has about ten scans; each costs a pass over the whole image: at most
# this many, and at most this many pixels read over all of them.
JPEG_MAX_SCANS = 100
JPEG_MAX_SCANNED_PIXELS = 1_000_000_000
# Where the reading process finds this module.
PROJECT = Path(__file__).resolve().parent.parent


class TooLarge(InvalidRequest):
    """Over a size limit: answered with HTTP 413."""

    status = 413


class Refused(InvalidRequest):
    """A file refused: SENTENCES[key] with `figures`, in English until `said()`."""

    def __init__(self, key: str, **figures: Any) -> None:
        super().__init__(SENTENCES[key] % figures)
        self.key, self.figures = key, figures


class RefusedLarge(Refused, TooLarge):
    pass


def said(key: str, figures: dict[str, Any], status: int = 400) -> InvalidRequest:
    """The refusal in the active language, its figures written the reader's way."""
    from django.utils.formats import number_format
    from django.utils.translation import gettext

    def shown(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if isinstance(value, float) and not value.is_integer():
            return number_format(value, 1 if value >= 1 else 2, force_grouping=True)
        return number_format(int(value), force_grouping=True)

    sentence = gettext(SENTENCES[key]) % {k: shown(v) for k, v in figures.items()}
    return (TooLarge if status == 413 else InvalidRequest)(sentence)


@dataclass(frozen=True)
class Limits:
    """The ATTACHMENT_* settings, as the process that reads a file is given them."""

    max_bytes: int
    image_max_side: int
    image_max_pixels: int
    text_max_chars: int
    pdf_max_pages: int
    seconds: float
    memory: int

    @classmethod
    def from_settings(cls) -> Limits:
        from django.conf import settings

        return cls(
            max_bytes=round(settings.ATTACHMENT_MAX_MB * MB),
            image_max_side=settings.ATTACHMENT_IMAGE_MAX_SIDE,
            image_max_pixels=settings.ATTACHMENT_IMAGE_MAX_PIXELS,
            text_max_chars=settings.ATTACHMENT_TEXT_MAX_CHARS,
            pdf_max_pages=settings.ATTACHMENT_PDF_MAX_PAGES,
            seconds=settings.ATTACHMENT_DECODE_SECONDS,
            memory=settings.ATTACHMENT_DECODE_MB * MB,
        )


@dataclass(frozen=True)
class Processed:
    kind: str  # "image" or "text"
    content_type: str
    data: bytes  # what is stored
    extension: str
    text: str = ""  # what the model reads of a text file or PDF
    width: int | None = None
    height: int | None = None
    preview: bytes = b""  # an image's small WebP rendition, or nothing

    @property
    def bytes_kept(self) -> int:
        """What keeping it adds to its owner's storage (conversations.storage)."""
        return len(self.data) + len(self.text) + len(self.preview)


def display_name(name: str) -> str:
    """The file's own name without any folders or control characters, at most 200 long."""
    base = PurePath(name.replace("\\", "/")).name
    base = "".join(c for c in base if c.isprintable()).strip()
    if base.strip(".") == "":  # "..", a folder's name anywhere a path is made of it
        base = "file"
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 190 - len(ext)] + dot + ext) if dot and len(ext) < 10 else base[:200]
    return base


# The extensions each stored format of an image is known by.
_KNOWN_AS = {".jpg": (".jpg", ".jpeg", ".jpe", ".jfif"), ".png": (".png",)}


def stored_name(name: str, processed: Processed) -> str:
    """An image's name as the file it is stored as: a WebP, a GIF or a PNG flattened to
    JPEG is "photo.jpg", so that a download or an export opens as what it is."""
    if processed.kind != "image":
        return name
    stem, dot, suffix = name.rpartition(".")
    if dot and "." + suffix.lower() in _KNOWN_AS[processed.extension]:
        return name
    return display_name((stem if dot and stem else name) + processed.extension)


async def process_apart(name: str, data: bytes, limits: Limits) -> Processed:
    """process() in a process of its own, bounded in memory and time."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conversations.files",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=PROJECT,
        # Nothing of the server's environment (its secrets) reaches the reader.
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(PROJECT), "LC_ALL": "C.UTF-8"},
    )
    try:
        async with asyncio.timeout(limits.seconds):
            asked = json.dumps({"name": name, **asdict(limits)}).encode()
            out, _ = await child.communicate(asked + b"\n" + data)
    except TimeoutError:
        raise said("slow", {"name": name}) from None
    finally:
        if child.returncode is None:  # timed out, or the upload was cancelled
            child.kill()
            await child.wait()
    if child.returncode != 0:  # killed for its memory or CPU time, or crashed: maybe midway
        raise said("complex", {"name": name})
    header, _, body = out.partition(b"\n")
    try:
        answer = json.loads(header)
    except ValueError:  # killed for its memory, or crashed
        raise said("complex", {"name": name}) from None
    if "error" in answer:
        raise said(answer["error"], answer["figures"], answer["status"])
    preview = answer.pop("preview_bytes", 0)
    if not 0 <= preview <= len(body):  # never from a reader that finished
        raise said("complex", {"name": name})
    data = body[: len(body) - preview]
    return Processed(**answer, data=data, preview=body[len(data) :])


def process(name: str, data: bytes, limits: Limits) -> Processed:
    if not data:
        raise Refused("empty", name=name)
    if len(data) > limits.max_bytes:
        # Rounded up to the places said() shows, so that a size over the limit never reads
        # as the limit ("20.0 MB").
        size = len(data) / MB
        shown = 10 ** (1 if size >= 1 else 2)
        size, limit = math.ceil(size * shown) / shown, limits.max_bytes / MB
        raise RefusedLarge("bytes", name=name, size=size, limit=limit)
    if data.startswith(b"%PDF-"):
        return _pdf(name, data, limits)
    kind = _image_format(data)
    if kind is not None:
        _refuse_polyglot(name, data)
        return _image(name, data, limits)
    return _text(name, data, limits)


def main() -> None:
    """The reading process: on stdin, a line of JSON (the file's name and its limits), then
    the file; on stdout, a line of JSON (the Processed file's fields and the length of its
    preview, or {"error", "status"}), then the bytes to keep, then the preview's. It holds
    itself to its limits of memory and CPU time, should its parent not be there to kill it."""
    import math
    import resource

    asked = json.loads(sys.stdin.buffer.readline())
    name = asked.pop("name")
    limits = Limits(**asked)
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    seconds = math.ceil(limits.seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))
    try:
        done = process(name, sys.stdin.buffer.read(), limits)
    except Refused as refused:
        answer: dict[str, Any] = {
            "error": refused.key,
            "figures": refused.figures,
            "status": getattr(refused, "status", 400),
        }
        data = b""
    except MemoryError:
        answer = {"error": "complex", "figures": {"name": name}, "status": 400}
        data = b""
    else:
        answer = {k: v for k, v in asdict(done).items() if k not in ("data", "preview")}
        answer["preview_bytes"] = len(done.preview)
        data = done.data + done.preview
    sys.stdout.buffer.write(json.dumps(answer).encode() + b"\n" + data)


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
        raise Refused("polyglot", name=name)


def _image(name: str, data: bytes, limits: Limits) -> Processed:
    damaged = Refused("damaged", name=name)
    too_big = Refused("pixels", name=name, most=limits.image_max_pixels)
    side = limits.image_max_side
    with warnings.catch_warnings():
        # Pillow warns, then refuses, past its own pixel limit: both refuse here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as probe:
                if probe.width * probe.height > limits.image_max_pixels:
                    raise too_big
                if probe.format in JPEG_FORMATS:
                    scans = data.count(b"\xff\xda")
                    pixels = probe.width * probe.height
                    if scans > JPEG_MAX_SCANS or scans * pixels > JPEG_MAX_SCANNED_PIXELS:
                        raise damaged  # each scan is a pass over every pixel: a CPU bomb
                probe.verify()  # the file's structure and checksums, without decoding
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            lossless = image.format in LOSSLESS_FORMATS
            if image.format in JPEG_FORMATS:
                # Decoded at 1/2, 1/4 or 1/8 of its size where that still covers its size kept.
                image.draft(image.mode, kept_size(image.size, side))
            image.load()  # every pixel: a truncated file fails here
            image = _upright_srgb(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_big from None
        except (InvalidRequest, MemoryError):
            raise
        except Exception:  # Pillow's decoders raise many types for a bad file
            raise damaged from None
    if (size := kept_size(image.size, side)) != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    encoded, content_type, extension = _encode(image, lossless)
    return Processed(
        "image",
        content_type,
        encoded,
        extension,
        width=image.width,
        height=image.height,
        preview=_preview(image, len(encoded)),
    )


def kept_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size an image of `size` is kept at: its longer side at most `side`; but a long
    image (a phone's scrolling screenshot, over twice as long as it is wide) keeps `side / 2`
    across, so that its text stays readable, up to LONG_SIDES times `side` along."""
    long, short = max(size), min(size)
    scale = min(1.0, max(side / long, side / 2 / short), LONG_SIDES * side / long)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _preview(image: Image.Image, stored: int) -> bytes:
    """A WebP of at most PREVIEW_SIDE pixels a side (transparency kept), for an image larger
    than that; nothing when the image is small, or its preview would not save much."""
    if max(image.size) <= PREVIEW_SIDE:
        return b""
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "WEBP", quality=PREVIEW_QUALITY)
    return out.getvalue() if out.tell() * 2 <= stored else b""


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


def _encode(image: Image.Image, lossless: bool) -> tuple[bytes, str, str]:
    """PNG for transparency, and for a `lossless` source while small enough as PNG; JPEG
    otherwise. A PNG must fit the upstream's limit: past it, a transparent image is
    flattened onto white, as JPEG."""
    transparent = image.mode == "RGBA" and image.getextrema()[3][0] < 255
    if image.mode == "RGBA" and not transparent:
        image = image.convert("RGB")
    png = b""
    if transparent or lossless:
        out = io.BytesIO()
        # zlib's default level: its highest (optimize) costs a crafted image of few values
        # sixteen seconds of CPU at 2048 by 2048 pixels, for a file a few percent smaller.
        image.save(out, "PNG", compress_level=6)
        png = out.getvalue() if out.tell() <= UPSTREAM_IMAGE_BYTES else b""
        if png and transparent:
            return png, "image/png", ".png"
    if image.mode != "RGB":
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    if png and len(png) <= PNG_KEPT_UP_TO * out.tell():
        return png, "image/png", ".png"
    return out.getvalue(), "image/jpeg", ".jpg"


# --- PDFs and text ----------------------------------------------------------------------------
def _pdf(name: str, data: bytes, limits: Limits) -> Processed:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Refused("password", name=name)
        pages = reader.pages
        if len(pages) > limits.pdf_max_pages:
            raise RefusedLarge("pages", name=name, pages=len(pages), limit=limits.pdf_max_pages)
        parts, length = [], 0
        for page in pages:
            part = page.extract_text() or ""
            parts.append(part)
            length += len(part)
            if length > limits.text_max_chars:
                break
        # A font's map may give NULs or half a surrogate pair: nothing to store or send.
        text = UNSTORABLE.sub("\ufffd", "\n\n".join(parts).replace("\x00", "")).strip()
    except (InvalidRequest, MemoryError):
        raise
    except Exception:  # pypdf raises many types for a damaged or hostile file
        raise Refused("not_pdf", name=name) from None
    if not text:
        raise Refused("scanned", name=name)
    return Processed(
        "text", "application/pdf", data, ".pdf", text=_within_limit(name, text, limits)
    )


def _text(name: str, data: bytes, limits: Limits) -> Processed:
    """UTF-8 text, or text a spreadsheet or an older editor saved: UTF-16 with its byte
    order mark, else Windows-1252. Whatever it was, it is kept as UTF-8."""
    text = _decoded(data)
    sample = (text or "")[:65_536]
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\t\n\r\f")
    if text is None or "\x00" in text or controls > len(sample) // 100:
        raise Refused("unknown", name=name)
    text = _within_limit(name, text.replace("\r\n", "\n"), limits)
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


def _within_limit(name: str, text: str, limits: Limits) -> str:
    limit = limits.text_max_chars
    if len(text) > limit:
        raise RefusedLarge("chars", name=name, chars=len(text), limit=limit)
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


if __name__ == "__main__":
    main()
