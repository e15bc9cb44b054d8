from django.conf import settings
from django.http import HttpRequest

from webchat.models import SiteSettings


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "simulated": settings.GROK_SIMULATED,
        # A callable: the query runs only on the pages that show the signup link.
        "signup_open": lambda: SiteSettings.current().signup_open,
    }
