"""The app as `make run` serves it, for the tests that drive it: only passwords are hashed
with a fast hasher, as in tests/settings.py (nearly every browser test signs someone up, and
the real hasher costs 0.4 s of CPU a password), and the simulator writes a reply in half a
second rather than three (a test that needs a reply to stream longer asks for it with a
`[sim delay=…]` directive)."""

from webchat.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
GROK_SIMULATOR_PACE = {"token_delay": 0.005, "first_token_delay": 0.05}
# A temporary chat left is deleted 2.5 s later, not 5 (tests/test_browser_preferences.py
# waits past it).
TEMPORARY_CHAT_GRACE_SECONDS = 2.5
