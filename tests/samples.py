"""Files to attach, good and bad, made by the tests themselves (nothing binary is checked in)."""

import io
import struct
import zipfile
import zlib

from PIL import Image

# EXIF tags: Orientation, and the GPS block with a latitude.
ORIENTATION, GPS_IFD, GPS_LATITUDE = 0x0112, 0x8825, 2


def photo(width: int = 640, height: int = 480, *, gps: bool = True, turned: bool = False) -> bytes:
    """A JPEG from a camera: a gradient, EXIF with a GPS position, maybe an orientation that
    says "turn me 90°" (6)."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    exif = Image.Exif()
    if gps:
        exif.get_ifd(GPS_IFD)[GPS_LATITUDE] = (52.0, 31.0, 12.0)
        exif[0x010F] = "Camera maker"  # Make
    if turned:
        exif[ORIENTATION] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def image(fmt: str, width: int = 64, height: int = 48, mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    color = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    Image.new(mode, (width, height), color[: len(mode)]).save(out, fmt, **save)
    return out.getvalue()


def busy_photo(width: int = 3000, height: int = 2000) -> bytes:
    """A JPEG with a photo's detail (noise over a gradient): about 0.7 MB kept at 2048."""
    noise = Image.effect_noise((width, height), 30).convert("RGB")
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    Image.blend(noise, gradient, 0.5).save(out, "JPEG", quality=92)
    return out.getvalue()


def photo_as_png(width: int = 320, height: int = 240) -> bytes:
    """A photo saved as PNG: noise, which PNG cannot compress as JPEG does."""
    out = io.BytesIO()
    Image.effect_noise((width, height), 40).convert("RGB").save(out, "PNG")
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("P", (40, 30), i * 60) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small PNG whose header claims `width` x `height` pixels."""
    data = bytearray(image("PNG", 8, 8))
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return bytes(data)


def truncated_jpeg() -> bytes:
    whole = photo(gps=False)
    return whole[: len(whole) * 2 // 3]


def jpeg_with_script() -> bytes:
    return photo(gps=False) + b"<script>alert(document.cookie)</script>"


def png_with_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.html", "<b>hi</b>")
    return image("PNG") + archive.getvalue()


def pdf(text: str = "Quarterly report: revenue grew nine percent", busywork: int = 0) -> bytes:
    """A one-page PDF with `text` on it, written out by hand (offsets and all); `busywork`
    operators that draw nothing make its reader slow."""
    stream = b"q Q " * busywork + f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def scan_bomb_jpeg(repeats: int = 150, side: int = 256) -> bytes:
    """A progressive JPEG whose first AC scan is repeated `repeats` times: each copy is a
    few bytes and a whole pass over the image for a decoder."""
    out = io.BytesIO()
    Image.new("L", (side, side), 128).save(out, "JPEG", progressive=True)
    source = out.getvalue()
    result, at, repeated = bytearray(source[:2]), 2, False
    while at < len(source):
        marker = source[at + 1]
        if marker == 0xD9:  # end of image
            result += source[at:]
            break
        length = struct.unpack(">H", source[at + 2 : at + 4])[0]
        end = at + 2 + length
        if marker == 0xDA:  # a scan: its header, then entropy-coded data up to a marker
            while not (source[end] == 0xFF and source[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
            scan = source[at:end]
            components = source[at + 4]
            first_coefficient = source[at + 5 + 2 * components]
            result += scan * (repeats if first_coefficient and not repeated else 1)
            repeated = repeated or bool(first_coefficient)
        else:
            result += source[at:end]
        at = end
    return bytes(result)
