"""Django admin for push subscriptions: whose browser, which push service, when it last worked; keys never in full."""

from urllib.parse import urlsplit

from django.contrib import admin

from .models import PushSubscription

KEY_SHOWN_CHARS = 8


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "push_service", "created_at", "last_success_at", "user_agent_short"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email"]
    list_filter = ["created_at", "last_success_at"]
    date_hierarchy = "created_at"
    raw_id_fields = ["user"]
    # Staff look and delete (a browser that should no longer get pushes); only the browser adds one.
    fields = ["user", "push_service", "endpoint_shortened", "p256dh_start", "auth_start", "user_agent", "created_at", "last_success_at"]
    readonly_fields = fields

    @admin.display(description="push service")
    def push_service(self, subscription):
        return urlsplit(subscription.endpoint).hostname or "?"

    @admin.display(description="endpoint")
    def endpoint_shortened(self, subscription):
        # The endpoint is a capability: whoever has it (with the keys) can push to that browser.
        return _start_of(subscription.endpoint, 40)

    @admin.display(description="p256dh key")
    def p256dh_start(self, subscription):
        return _start_of(subscription.p256dh, KEY_SHOWN_CHARS)

    @admin.display(description="auth secret")
    def auth_start(self, subscription):
        return _start_of(subscription.auth, 4)

    @admin.display(description="browser")
    def user_agent_short(self, subscription):
        return _start_of(subscription.user_agent, 60) if subscription.user_agent else ""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _start_of(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars] + "…"
