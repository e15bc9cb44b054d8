"""`python -m webchat.simulator --port 8001`: the simulator on its own."""

import argparse
import asyncio
import contextlib

from webchat.simulator.server import Simulator


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the offline Grok simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--delay-ms", type=float, default=35, help="pause between words")
    parser.add_argument("--ttft-ms", type=float, default=300, help="pause before the first word")
    args = parser.parse_args()
    sim = Simulator(
        host=args.host,
        port=args.port,
        token_delay=args.delay_ms / 1000,
        first_token_delay=args.ttft_ms / 1000,
    )

    async def serve() -> None:
        url = await sim.start()
        print(f"Grok simulator on {url}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


main()
