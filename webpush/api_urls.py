from django.urls import path

from . import api

app_name = "webpush-api"

urlpatterns = [
    path("push/subscriptions/", api.PushSubscriptionsView.as_view(), name="subscriptions"),
]
