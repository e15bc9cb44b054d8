"""The locks pin what pyproject.toml asks for, with hashes; the SQLite default runs without
the PostgreSQL and Redis drivers, and asking for them without the drivers says which extra
installs them."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.M)
    }


def wanted(*extras: str) -> list[Requirement]:
    found = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    return found


def test_the_locks_pin_every_requirement_within_its_range() -> None:
    for lock, extras in (
        ("dev.lock", ("postgres", "redis", "s3", "dev")),
        ("prod.lock", ("postgres", "redis", "s3")),
    ):
        pinned = pins(lock)
        for requirement in wanted(*extras):
            version = pinned.get(canonicalize_name(requirement.name))
            assert version is not None, f"{lock} lacks {requirement.name}: run `make lock`"
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} pins {requirement.name}=={version}, outside {requirement.specifier}"
            )


def test_every_pin_has_its_hashes_and_production_has_no_test_tools() -> None:
    for lock in ("dev.lock", "prod.lock"):
        text = (ROOT / "requirements" / lock).read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
        for block in blocks:
            if "==" in block:
                assert "--hash=sha256:" in block, block.splitlines()[0]
    assert not {"pytest", "playwright", "hypothesis"} & set(pins("prod.lock"))


BLOCK_DRIVERS = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('psycopg', 'channels_redis', 'redis'):
            raise ImportError(name + ' is not installed')
sys.meta_path.insert(0, Block())
import importlib.util
importlib.util.find_spec = (lambda real: lambda name, *a: None
    if name.split('.')[0] in ('psycopg', 'channels_redis', 'redis') else real(name, *a))(importlib.util.find_spec)
import django, os
django.setup()
from django.conf import settings
print(settings.DATABASES['default']['ENGINE'], settings.CHANNEL_LAYERS['default']['BACKEND'])
"""


def run_without_drivers(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-c", BLOCK_DRIVERS],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "webchat.settings", "SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_embedded_default_needs_no_database_or_redis_driver() -> None:
    result = run_without_drivers()
    assert result.returncode == 0, result.stderr
    assert "sqlite3 webchat.layers.InMemoryLayer" in result.stdout


def test_asking_for_redis_without_its_driver_names_the_extra() -> None:
    result = run_without_drivers(REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode != 0
    assert "pip install 'webchat[redis]'" in result.stderr
    result = run_without_drivers(DATABASE_URL="postgres://x@127.0.0.1/x")
    assert "pip install 'webchat[postgres]'" in result.stderr
