from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class WebchatConfig(AppConfig):
    name = "webchat"
    verbose_name = "webchat platform"

    def ready(self) -> None:
        from webchat import text

        text.guard("webchat")


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin, on the site below (named in INSTALLED_APPS, not this module's app)."""

    default = False
    default_site = "webchat.admin_site.AdminSite"
