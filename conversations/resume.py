"""What one socket holds back while a snapshot is on its way: no gap, no duplicate.

A socket joins the conversation's group before it asks for a snapshot, so frames of the
reply arrive both before and after the moment the snapshot is taken. The buffer holds a
reply's frames from the `resume` until its snapshot arrives, then lets through only those
after the snapshot's `seq`. It also remembers which replies this socket has ended, so a
`done` is sent once however many ways it arrives (the group, a stored reply, a watchdog).

Pure: no I/O and no clock of its own; the consumer passes `now` in.
"""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]  # a `chat.frame` envelope (conversations.frames.envelope)


class ResumeBuffer:
    def __init__(self) -> None:
        self.held: dict[str, list[Event]] = {}
        self.finished: set[str] = set()
        # Streaming replies this socket follows → when it last heard of each.
        self.watched: dict[str, float] = {}

    # --- Holding frames -----------------------------------------------------------------------
    def hold(self, message_id: str) -> None:
        """A snapshot of `message_id` has been asked for: hold its frames until it comes."""
        self.held[message_id] = []

    def is_held(self, message_id: str | None) -> bool:
        return message_id in self.held

    def held_after(self, message_id: str, seq: int) -> list[Event]:
        """The held frames newer than `seq` (to judge whether a stored copy would leave a
        gap)."""
        return [e for e in self.held.get(message_id, ()) if e["seq"] > seq]

    def release(self, message_id: str, seq: int) -> list[str] | None:
        """The snapshot at `seq` has come: the held frames it does not cover, in order, and
        the reply is held no more. None when it was not held (answered already)."""
        held = self.held.pop(message_id, None)
        if held is None:
            return None
        return [e["text"] for e in held if e["seq"] > seq]

    def forward(self, event: Event, now: float) -> list[str]:
        """A frame from the group: what to send now (nothing while its reply is held, nothing
        for a second `done`)."""
        message = event.get("message")
        if message in self.watched:
            if event.get("done"):
                del self.watched[message]
            else:
                self.watched[message] = now
        if message is not None and message in self.held:
            self.held[message].append(event)
            return []
        if event.get("done") and not self.finish(message):
            return []
        return [event["text"]]

    def finish(self, message_id: str | None) -> bool:
        """This socket ends `message_id` now; False if it already had."""
        if message_id in self.finished:
            return False
        if message_id is not None:
            self.finished.add(message_id)
        return True

    # --- Watching silent replies --------------------------------------------------------------
    def watch(self, message_id: str, now: float) -> None:
        """Follow a streaming reply (it started, or was resumed) until its `done`."""
        self.watched[message_id] = now

    def silent(self, now: float, interval: float) -> list[str]:
        """The watched replies nothing has been heard of for `interval` seconds."""
        return [m for m, seen in self.watched.items() if now - seen >= interval]

    def unwatch(self, message_id: str) -> None:
        self.watched.pop(message_id, None)
