"""Production settings, configured as docs/deploy.md says, pass Django's deployment checks."""

import os
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _example_env() -> dict[str, str]:
    """deploy/webchat.env.example with a real secret, a local database and no upstream."""
    lines = (ROOT / "deploy" / "webchat.env.example").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert {"ALLOWED_HOSTS", "HTTPS", "DATABASE_URL", "REDIS_URL"} <= set(env)
    env.pop("DATABASE_URL")  # the checks need no database; SQLite stands in
    env.pop("REDIS_URL")
    return {
        **env,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": "webchat.settings",
    }


PRODUCTION = _example_env()


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_is_clean_in_production() -> None:
    result = run("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_without_https() -> None:
    result = run("check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "HTTPS": "0"})
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stderr


def test_production_settings_are_secure() -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, s.DEBUG)"
    )
    result = run("shell", "-c", code, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == (
        "True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') True False"
    )


def test_a_bad_boolean_stops_the_app_with_its_name() -> None:
    result = run("check", **{**PRODUCTION, "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_createsuperuser_works_without_a_prompt(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SUPERUSER_USERNAME": "admin",
        "DJANGO_SUPERUSER_PASSWORD": "a long enough passphrase 42",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }
    assert run("migrate", "--noinput", **env).returncode == 0
    result = run("createsuperuser", "--noinput", **env)
    assert result.returncode == 0, result.stderr
    assert "Superuser created" in result.stdout


def test_the_project_builds_with_plain_pip(tmp_path: Path) -> None:
    """`pip install .` builds this wheel; it must carry both apps and their migrations."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("webchat-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("webchat/asgi.py", "webchat/migrations/0002_seed_catalog.py",
                   "conversations/consumers.py", "conversations/migrations/0001_initial.py"):  # fmt: skip
        assert module in names
