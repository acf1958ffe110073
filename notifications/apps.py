from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self):
        from . import credential_signals, signals  # noqa: F401  (connect the receivers)
