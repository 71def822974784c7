from django.urls import path

from . import views

app_name = "automation"

urlpatterns = [
    path("<slug:slug>/", views.page_view, name="page"),
    path("<slug:slug>/thanks/", views.page_thanks_view, name="thanks"),
]
