"""One browser's push subscription: where to send (endpoint) and the keys to encrypt with."""

from django.conf import settings
from django.db import models


class PushSubscription(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    # The push service's URL for this browser; unique: a browser re-subscribing replaces its row.
    endpoint = models.URLField(max_length=1000, unique=True)
    # The browser's ECDH public key (P-256, base64url) and auth secret (RFC 8291).
    p256dh = models.CharField(max_length=120)
    auth = models.CharField(max_length=60)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user"], name="push_subscription_user_idx")]

    def __str__(self):
        return f"push subscription {self.pk} of user {self.user_id}"
