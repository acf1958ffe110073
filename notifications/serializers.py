"""API shapes for notifications; validation of input only, the rules live in services."""

from rest_framework import serializers

from .catalog import NotificationType
from .models import Notification
from .reasons import reason_text


class NotificationSerializer(serializers.ModelSerializer):
    reason = serializers.SerializerMethodField(help_text="Why the recipient got it, in one line.")

    class Meta:
        model = Notification
        fields = [
            "id",
            "notification_type",
            "title",
            "message",
            "priority",
            "is_read",
            "read_at",
            "is_delivered",
            "delivered_at",
            "seen_at",
            "clicked_at",
            "action_url",
            "metadata",
            "created_at",
            "reason",
        ]
        read_only_fields = fields

    def get_reason(self, notification) -> str:
        return reason_text(notification)


class NotificationListFilterSerializer(serializers.Serializer):
    """Query parameters of the list; a missing one means "no filter"."""

    # default=None: in query strings DRF would otherwise read a missing boolean as False.
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)
    type = serializers.ChoiceField(choices=NotificationType.choices, required=False, allow_blank=True)


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: "yes", 1 or "false" in a JSON body are mistakes, not booleans."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class NotificationPreferencesSerializer(serializers.Serializer):
    # Unknown and unmutable types are refused by the service, with the whole update.
    muted = serializers.DictField(child=StrictBooleanField(), required=False)
    # Per type, its email and push switches: {"bid_received": {"email": false, "push": true}}.
    # Only the channels a type has (the catalog's policy); anything else is refused whole.
    channels = serializers.DictField(
        child=serializers.DictField(child=StrictBooleanField()), required=False,
        help_text="Per type, the channels it has (email, push) with whether they are on.",
    )
    # Plain strings: a second enum over the same choices would clash in the OpenAPI schema.
    unmutable = serializers.ListField(child=serializers.CharField(), read_only=True)

    def validate(self, attrs):
        # Old clients send muted only, new ones may send channels only; one of them is required.
        if "muted" not in attrs and "channels" not in attrs:
            raise serializers.ValidationError({"muted": ["This field is required."]})
        return attrs


class ReceiptsSerializer(serializers.Serializer):
    """A page's acks: ids per state; at most NOTIFICATION_RECEIPTS_MAX_IDS each (the service refuses more)."""

    delivered = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)
    seen = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)
    clicked = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)


class ReceiptsRecordedSerializer(serializers.Serializer):
    delivered = serializers.IntegerField()
    seen = serializers.IntegerField()
    clicked = serializers.IntegerField()


class MarkedReadSerializer(serializers.Serializer):
    marked_read = serializers.IntegerField()


class UnreadCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
