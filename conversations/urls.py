from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.home, name="home"),
    path("c/", views.create, name="conversation-create"),
    path("c/<uuid:id>/", views.detail, name="conversation"),
    path("c/<uuid:id>/rename/", views.rename, name="conversation-rename"),
    path("c/<uuid:id>/delete/", views.delete, name="conversation-delete"),
]
