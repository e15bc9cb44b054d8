"""This checkout, and a git revision beside it for --compare: measured in the same run."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def checkouts(revision: str | None) -> Iterator[dict[str, Path]]:
    """{"this checkout": its root}, and `revision`'s in a worktree when one is given (removed
    after)."""
    found = {"this checkout": ROOT}
    if revision is None:
        yield found
        return
    worktree = Path(tempfile.mkdtemp()) / "compare"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(worktree), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield {**found, revision: worktree}
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
        )
