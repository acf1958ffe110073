from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from project.health import healthz
from project.metrics_view import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("jobs.api_urls")),
    path("api/", include("notifications.api_urls")),
    path("api/", include("webpush.api_urls")),
    path("", include("webpush.urls")),
    path("", include("notifications.urls")),
    path("", include("jobs.urls")),
]

if settings.BENCH_STOCK_EVENTSTREAM:
    urlpatterns.insert(0, path("", include("bench.urls")))  # bench_streams' servers only
