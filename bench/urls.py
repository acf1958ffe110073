"""The stock django-eventstream view, for bench_streams to compare /events/ against
(included by project/urls.py only when BENCH_STOCK_EVENTSTREAM is set)."""

from django.urls import include, path

urlpatterns = [
    path("stock-events/", include("django_eventstream.urls")),
]
