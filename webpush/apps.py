from django.apps import AppConfig


class WebpushConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webpush"
    verbose_name = "Web Push"
