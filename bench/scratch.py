"""Django set up in a benchmark's own process, with the app's settings, on a new SQLite
file of its own (for the benchmarks that call the app's code directly)."""

import os
import tempfile
from pathlib import Path


def django_on_a_scratch_database(**env: str) -> None:
    workdir = Path(tempfile.mkdtemp())
    os.environ.update(
        DJANGO_SETTINGS_MODULE="webchat.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        SECRET_KEY="bench-" + "x" * 50,
        GROK_SIMULATOR="off",
        **env,
    )
    import django

    django.setup()
