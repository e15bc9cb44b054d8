"""http → Django (static files through whitenoise), the API's paths (/v1/) through a
Django handler of their own; websocket → same-origin check → auth → routes."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webchat.settings")
# Django must be set up before anything imports models (the consumers do).
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from conversations.routing import websocket_urlpatterns  # noqa: E402
from webchat.origin import SameOriginValidator  # noqa: E402

if settings.GROK_SIMULATED and settings.GROK_SIMULATOR == "auto":
    # No token: replies come from the built-in simulator, served on a free loopback port.
    from webchat.simulator import Simulator

    settings.GROK_API_BASE = Simulator(**settings.GROK_SIMULATOR_PACE).start_in_thread()

from webchat.handlers import ApiHandler, by_path  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": by_path({"/v1/": ApiHandler()}, django_application),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
