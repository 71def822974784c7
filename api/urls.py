from django.urls import path, re_path

from . import views

app_name = "api"
urlpatterns = [
    path("events", views.events, name="events"),
    path("openapi.json", views.openapi, name="openapi"),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
