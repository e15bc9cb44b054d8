"""Small, strict readers of the environment: a bad value fails at start-up, not later."""

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ImproperlyConfiguredEnv(ValueError):
    pass


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfiguredEnv(f"{name}={raw!r} is not a boolean (use 1/0, true/false).")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name}={raw!r} is not a number.") from None


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name}={raw!r} is not an integer.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def secret_key(base_dir: Path, debug: bool) -> str:
    """SECRET_KEY from the environment, or from the file SECRET_KEY_FILE names (made with
    a new random key if it does not exist yet: `make run` keeps one beside the database).

    With DEBUG on and neither set, a key file in the project folder; with DEBUG off, a
    missing key stops the app at start-up: production sets it, nothing is written into the
    code's folder."""
    key = os.environ.get("SECRET_KEY", "")
    if key:
        if not debug and (len(key) < 40 or key.startswith("change-me")):
            raise ImproperlyConfiguredEnv(
                "SECRET_KEY is too short or still the example's placeholder: use 50 random "
                "characters."
            )
        return key
    name = os.environ.get("SECRET_KEY_FILE", "")
    if not name and not debug:
        raise ImproperlyConfiguredEnv(
            "SECRET_KEY is required when DEBUG is off: set SECRET_KEY (50 random characters, "
            "e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or "
            "SECRET_KEY_FILE to a file that holds it."
        )
    path = Path(name) if name else base_dir / ".secret_key"
    if path.exists():
        return path.read_text().strip()
    import secrets

    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


def require_extra(extra: str, module: str, needed: object) -> None:
    """A setting that needs an optional driver says which extra installs it."""
    if not needed:
        return
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ImproperlyConfiguredEnv(
            f"This setting needs the {extra} drivers: pip install 'webchat[{extra}]'."
        )
