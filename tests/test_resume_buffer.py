"""The resume buffer alone: held frames on both sides of a snapshot, and one `done` each."""

from typing import Any

from conversations import frames
from conversations.resume import ResumeBuffer


def delta(seq: int, message: str = "m1") -> dict[str, Any]:
    return frames.envelope(frames.delta(message, seq, f"w{seq} ", ""), message=message, seq=seq)


def done(seq: int, message: str = "m1") -> dict[str, Any]:
    frame = {"type": "done", "message": message, "seq": seq}
    return frames.envelope(frame, message=message, seq=seq, done=True)


def test_frames_of_other_replies_pass_while_one_is_held() -> None:
    buffer = ResumeBuffer()
    buffer.hold("m1")
    assert buffer.forward(delta(1, "m2"), now=0) == [delta(1, "m2")["text"]]
    assert buffer.forward(delta(1), now=0) == []


def test_release_lets_through_exactly_the_frames_after_the_snapshot() -> None:
    buffer = ResumeBuffer()
    buffer.hold("m1")
    # Frames published before the snapshot was taken (seq ≤ 5) and after it (6, 7).
    for seq in (4, 5, 6, 7):
        assert buffer.forward(delta(seq), now=0) == []
    later = buffer.release("m1", 5)
    assert later == [delta(6)["text"], delta(7)["text"]], "no lost word (6), no doubled one (5)"
    # Released: the next frames go straight through.
    assert not buffer.is_held("m1")
    assert buffer.forward(delta(8), now=0) == [delta(8)["text"]]


def test_a_snapshot_that_covers_every_held_frame_releases_none() -> None:
    buffer = ResumeBuffer()
    buffer.hold("m1")
    buffer.forward(delta(3), now=0)
    assert buffer.release("m1", 3) == []


def test_a_second_answer_to_the_same_resume_releases_nothing() -> None:
    buffer = ResumeBuffer()
    buffer.hold("m1")
    buffer.forward(delta(1), now=0)
    assert buffer.release("m1", 0) == [delta(1)["text"]]
    assert buffer.release("m1", 0) is None


def test_held_after_shows_whether_a_stored_copy_would_leave_a_gap() -> None:
    buffer = ResumeBuffer()
    buffer.hold("m1")
    for seq in (7, 8):
        buffer.forward(delta(seq), now=0)
    assert [e["seq"] for e in buffer.held_after("m1", 5)] == [7, 8]
    assert buffer.held_after("m1", 8) == []


def test_a_done_is_sent_once_however_it_arrives() -> None:
    buffer = ResumeBuffer()
    assert buffer.forward(done(9), now=0) == [done(9)["text"]]
    assert buffer.forward(done(9), now=0) == []
    assert buffer.finish("m1") is False
    assert buffer.finish("m2") is True


def test_a_held_done_waits_with_the_other_frames() -> None:
    buffer = ResumeBuffer()
    buffer.hold("m1")
    assert buffer.forward(done(4), now=0) == []
    assert "m1" not in buffer.finished  # the consumer sends the stored reply's own `done`


def test_a_watched_reply_falls_silent_when_no_frame_comes() -> None:
    buffer = ResumeBuffer()
    buffer.watch("m1", now=0)
    assert buffer.silent(now=4, interval=5) == []
    assert buffer.silent(now=5, interval=5) == ["m1"]
    buffer.forward(delta(1), now=5)
    assert buffer.silent(now=9, interval=5) == []
    buffer.forward(done(2), now=9)
    assert buffer.watched == {}
