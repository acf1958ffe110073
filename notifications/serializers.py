"""API shapes for notifications; validation of input only, the rules live in services."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.http import urlencode
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from project.serializers import OutputSerializer

from .catalog import GROUP_KEY_MAX_LENGTH, NotificationType
from .models import Notification
from .quiet_hours import WEEKDAYS, quiet_hours_parse
from .reasons import reason_text


class NotificationSerializer(OutputSerializer):  # built for every frame of a replay and every small event
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
            "group_key",
        ]
        read_only_fields = fields

    def get_reason(self, notification) -> str:
        return reason_text(notification)


class NotificationListFilterSerializer(serializers.Serializer):
    """Query parameters of the list; a missing one means "no filter"."""

    # default=None: in query strings DRF would otherwise read a missing boolean as False.
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)
    type = serializers.ChoiceField(choices=NotificationType.choices, required=False, allow_blank=True)
    grouped = serializers.BooleanField(
        required=False, default=False, help_text="true: one entry per group (NotificationGroup), latest group first."
    )
    group = serializers.CharField(
        required=False, max_length=GROUP_KEY_MAX_LENGTH, help_text="Only this group's members (a group_key)."
    )

    # Keyset pagination: the rows older than this id (the `next_before` of the page before).
    before = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def validate(self, data):
        if data.get("grouped") and data.get("before"):
            raise serializers.ValidationError({"before": ["The grouped listing pages with ?page=; before pages the flat one."]})
        return data


class NotificationGroupSerializer(serializers.Serializer):
    """One entry of the grouped listing: a group, or a notification without one (key null, count 1)."""

    key = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(help_text="Live members matching the filters.")
    unread_count = serializers.IntegerField()
    summary = serializers.CharField(help_text='The entry\'s line: "4 new bids on Spring clean, from €95.00 to €120.00".')
    latest = NotificationSerializer(help_text="The newest member, which represents the group.")
    members = NotificationSerializer(many=True, help_text="The newest members, latest first (at most 5).")
    member_ids = serializers.SerializerMethodField()
    members_url = serializers.SerializerMethodField(help_text="Every member: the flat listing filtered by this group.")

    def get_member_ids(self, group) -> list[int]:
        return group.member_ids

    def get_members_url(self, group) -> str | None:
        if group.key is None:
            return None
        return f"{reverse('notifications-api:list')}?{urlencode({'group': group.key})}"


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
    # The range (0 to 60) is the service's rule, the same for the preferences page.
    job_offer_pushes_per_hour = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="Your cap on job offer pushes per rolling hour, 0 to 60 (beyond it, one digest push); null: the default.",
    )
    job_offer_pushes_per_hour_default = serializers.IntegerField(read_only=True)

    def validate(self, attrs):
        # Old clients send muted only, new ones may send channels only; one of them is required.
        if not {"muted", "channels", "job_offer_pushes_per_hour"} & set(attrs):
            raise serializers.ValidationError({"muted": ["This field is required."]})
        return attrs


_QUIET_WINDOW_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {"start": {"type": "string", "example": "22:00"}, "end": {"type": "string", "example": "07:00"}},
    "required": ["start", "end"],
}


# The values pass through as sent: quiet_hours_parse judges them, for this door and the page's form alike.
@extend_schema_field({"type": "string", "example": "Europe/Amsterdam"})
class TimeZoneNameField(serializers.JSONField):
    pass


@extend_schema_field({"type": "object", "properties": dict.fromkeys(WEEKDAYS, _QUIET_WINDOW_SCHEMA)})
class QuietWindowsField(serializers.JSONField):
    pass


class QuietHoursSerializer(serializers.Serializer):
    time_zone = TimeZoneNameField(help_text="An IANA zone name; the windows are in its local time.")
    windows = QuietWindowsField(
        help_text='Per weekday (mon ... sun) {"start": "HH:MM", "end": "HH:MM"} or null; an end before the start '
        "runs into the next day (22:00-07:00). A day left out has no quiet hours.",
    )
    quiet_until = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the quiet hours you are in now end; null: not in quiet hours."
    )

    def validate(self, attrs):
        try:
            attrs["schedule"] = quiet_hours_parse(time_zone=attrs["time_zone"], windows=attrs["windows"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
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


class AccountDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class AccountDeletionSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"deleting": the account is deactivated; its data goes in the background.')
