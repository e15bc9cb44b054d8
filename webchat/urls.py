from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from webchat import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("usage/", views.usage, name="usage"),
    path("", include("conversations.urls")),
]
