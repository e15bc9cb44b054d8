"""The admin's site: Django's, with the site's own apps first on its index."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class AdminSite(admin.AdminSite):
    """The site's own apps first on the index (people, plans and models, then conversations
    and keys), the libraries' after them (login lock-outs, sign-in providers)."""

    OWN = ("webchat", "conversations", "api")
    # No list of every model beside each page: its 300 px left a laptop's lists so narrow
    # that their words broke ("Complet" / "e"). The index and the breadcrumbs lead there.
    enable_nav_sidebar = False

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)
        own = {label: place for place, label in enumerate(self.OWN)}
        return sorted(apps, key=lambda app: own.get(app["app_label"], len(own)))
