"""The app as `make run` serves it, for the tests that drive it: only passwords are hashed
with a fast hasher, as in tests/settings.py (nearly every browser test signs someone up, and
the real hasher costs 0.4 s of CPU a password)."""

from webchat.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
