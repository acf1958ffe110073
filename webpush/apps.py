"""Web Push: browsers' push subscriptions and sending to them (RFC 8030, 8291, 8292)."""
from django.apps import AppConfig


class WebpushConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webpush"
    verbose_name = "Web Push"

    def ready(self):
        from . import signals  # noqa: F401  (connect the receivers)
