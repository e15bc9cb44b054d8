"""A process asked to stop drains first (webchat/serve.py): it takes no new sends, tells
its sockets to reconnect (the browser resumes on another process), and lets its replies
in flight finish, within SHUTDOWN_GRACE_SECONDS."""

from __future__ import annotations

import weakref
from typing import Any

# "This process is restarting": the browser reconnects, and lands on another process.
# (RFC 6455's 1012 says the same, but autobahn, under daphne, may not send it.)
CLOSE_RESTARTING = 4503

sockets: weakref.WeakSet[Any] = weakref.WeakSet()
# The API's calls in flight (api.views): their tasks, waited for like replies.
calls: weakref.WeakSet[Any] = weakref.WeakSet()
draining = False
