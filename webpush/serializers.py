"""API shapes for push subscriptions: the browser's PushSubscription.toJSON(); the rules live in services."""

from rest_framework import serializers

from .models import PushSubscription


class PushKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField(trim_whitespace=False)
    auth = serializers.CharField(trim_whitespace=False)


class PushSubscriptionInputSerializer(serializers.Serializer):
    """{endpoint, keys: {p256dh, auth}}; other members (expirationTime) are ignored."""

    endpoint = serializers.CharField(trim_whitespace=False)
    keys = PushKeysSerializer()


class PushEndpointSerializer(serializers.Serializer):
    endpoint = serializers.CharField(trim_whitespace=False)


class PushSubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushSubscription
        fields = ["id", "endpoint", "user_agent", "created_at", "last_success_at"]
        read_only_fields = fields


class PushSubscriptionsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="False when the server has no VAPID keys.")
    public_key = serializers.CharField(allow_null=True, help_text="The applicationServerKey for PushManager.subscribe().")
    subscriptions = PushSubscriptionSerializer(many=True)
