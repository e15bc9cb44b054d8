"""What attachments cost: the upload of a phone photo, a text file and a PDF (to the 201),
and what an image adds to a send (to the first delta), on the app as `make run` serves it.

    python bench/attachments.py [--rounds 7]

The first delta is timed over a websocket of its own with the simulator answering at once
(`ttft=0`), alternating a message with one image and one without, so the difference is
what reading the image and sending it upstream as a data URL adds. Medians; compare the
figures of one run, not across runs (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402
from PIL import Image  # noqa: E402

from tests import samples  # noqa: E402
from tests.live import LiveServer  # noqa: E402


def phone_photo() -> bytes:
    """12 megapixels of a camera's JPEG (noise compresses as badly as a real photo)."""
    noise = Image.effect_noise((4000, 3000), 60).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=92, exif=Image.Exif().tobytes())
    return out.getvalue()


def timed_upload(server: LiveServer, session: str, conversation: str, name: str, data: bytes):
    started = time.perf_counter()
    answer = server.upload(session, conversation, name, data)
    return (time.perf_counter() - started) * 1000, answer


async def first_delta(server: LiveServer, session: str, conversation: str, frame: dict) -> float:
    async with websockets.connect(
        server.socket_url(conversation),
        additional_headers={"Cookie": f"sessionid={session}", "Origin": server.url},
    ) as socket:
        started = time.perf_counter()
        await socket.send(json.dumps({"type": "send", **frame}))
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == "delta":
                elapsed = (time.perf_counter() - started) * 1000
                break
        while message["type"] != "done":
            message = json.loads(await socket.recv())
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    server = LiveServer(Path(tempfile.mkdtemp()))
    server.start()
    try:
        session = server.sign_up("bench")
        server.query("UPDATE webchat_plan SET requests_per_minute = 100000")
        conversation = server.new_conversation(session)
        files = {
            "photo.jpg (12 MP)": phone_photo(),
            "notes.txt (190 KB)": b"All work and no play. " * 8_600,
            "report.pdf (1 page)": samples.pdf(),
        }
        print(f"{'upload':<22} {'bytes in':>10} {'bytes kept':>10} {'median ms':>10}")
        image = None
        for name, data in files.items():
            times, answer = [], None
            for _ in range(rounds):
                elapsed, answer = timed_upload(server, session, conversation, name, data)
                times.append(elapsed)
            image = image or answer
            print(
                f"{name:<22} {len(data):>10,} {answer['size']:>10,} {statistics.median(times):>10.1f}"
            )

        async def sends() -> tuple[list[float], list[float]]:
            plain, with_image = [], []
            frame = {"content": "[sim words=3 ttft=0 delay=0]", "model": "grok-2-vision"}
            for _ in range(rounds):
                own = server.new_conversation(session)
                plain.append(await first_delta(server, session, own, frame))
                attached = server.upload(session, own, "photo.jpg", files["photo.jpg (12 MP)"])
                with_image.append(
                    await first_delta(
                        server, session, own, {**frame, "attachments": [attached["id"]]}
                    )
                )
            return plain, with_image

        plain, with_image = asyncio.run(sends())
        kept = image["size"] if image else 0
        print()
        print(f"first delta, text only:        {statistics.median(plain):7.1f} ms")
        print(
            f"first delta, one image ({kept / 1e6:.1f} MB kept): {statistics.median(with_image):7.1f} ms"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
