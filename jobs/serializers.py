"""API shapes: input serializers check types and ranges, output serializers render models.

Input serializers never save: views pass their validated_data to a service, which
owns the business rules. DRF's fields already refuse what would otherwise reach
the database as garbage or crash it: CharField rejects NUL bytes (PostgreSQL cannot
store them) and surrogates, FloatField rejects NaN, Infinity and ints too big for a
float, DecimalField enforces max_digits/decimal_places, DateTimeField reports
out-of-range offsets as field errors.
"""


from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import Throttled

from project.serializers import OutputSerializer

from .field_limits import length_limit, number_limits
from .login_limits import LoginLocked, authenticate_within_limits
from .models import (
    CleaningJob,
    JobBid,
    JobMessage,
    JobStatus,
    Payment,
    ServiceType,
)
from .places import place_resolve

User = get_user_model()

# --- input ----------------------------------------------------------------------


class StrictFloatField(serializers.FloatField):
    """A number, as JSON or a numeric string; unlike DRF's FloatField, true/false are not 1.0/0.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class JobFilterSerializer(serializers.Serializer):
    """Query parameters of the job list; an unknown value is a 400, not an empty page."""

    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    service_type = serializers.ChoiceField(choices=ServiceType.choices, required=False)


class JobCreateSerializer(serializers.Serializer):
    title = serializers.CharField(**length_limit(CleaningJob, "title"))
    description = serializers.CharField(**length_limit(CleaningJob, "description"), allow_blank=True, default="")
    service_type = serializers.ChoiceField(choices=ServiceType.choices)
    address = serializers.CharField(**length_limit(CleaningJob, "address"))
    city = serializers.CharField(**length_limit(CleaningJob, "city"))
    latitude = StrictFloatField(
        **number_limits(CleaningJob, "latitude"),
        required=False,
        help_text="With longitude; leave both out to have the address looked up.",
    )
    longitude = StrictFloatField(
        **number_limits(CleaningJob, "longitude"),
        required=False,
        help_text="With latitude; leave both out to have the address looked up.",
    )
    scheduled_start = serializers.DateTimeField()
    duration_hours = serializers.DecimalField(**number_limits(CleaningJob, "duration_hours"))
    budget = serializers.DecimalField(**number_limits(CleaningJob, "budget"))

    def validate(self, attrs):
        # The same rule as the job form: coordinates if given, else the address geocoded.
        place = place_resolve(
            address=attrs["address"], city=attrs["city"], latitude=attrs.get("latitude"), longitude=attrs.get("longitude")
        )
        return {**attrs, "latitude": place.latitude, "longitude": place.longitude}


class BidPlaceSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**number_limits(JobBid, "amount"))
    message = serializers.CharField(**length_limit(JobBid, "message"), allow_blank=True, default="")


class PaymentCreateSerializer(serializers.Serializer):
    simulate_failure = serializers.BooleanField(
        default=False, help_text="Ask the simulated payment provider to decline the charge."
    )


class MessageSendSerializer(serializers.Serializer):
    body = serializers.CharField(**length_limit(JobMessage, "body"))
    recipient = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        # Parse the id as an integer first: a float such as 1e309 (infinity) would
        # otherwise reach the ORM and overflow there.
        pk_field=serializers.IntegerField(),
        required=False,
        allow_null=True,
        help_text="The user to write to. A client must name the bidder unless the job is assigned; "
        "a cleaner always writes to the client.",
    )


# --- output ---------------------------------------------------------------------


class JobSerializer(OutputSerializer):
    class Meta:
        model = CleaningJob
        fields = [
            "id",
            "client",
            "title",
            "description",
            "service_type",
            "address",
            "city",
            "latitude",
            "longitude",
            "scheduled_start",
            "duration_hours",
            "budget",
            "status",
            "assigned_cleaner",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BidSerializer(OutputSerializer):
    cleaner_username = serializers.CharField(source="cleaner.username", read_only=True)

    class Meta:
        model = JobBid
        fields = ["id", "job", "cleaner", "cleaner_username", "amount", "message", "status", "created_at", "updated_at"]
        read_only_fields = fields


class PaymentSerializer(OutputSerializer):
    class Meta:
        model = Payment
        fields = ["id", "job", "payer", "payee", "amount", "status", "provider_reference", "created_at", "updated_at"]
        read_only_fields = fields


class MessageSerializer(OutputSerializer):
    sender_username = serializers.CharField(source="sender.username", read_only=True)
    recipient_username = serializers.CharField(source="recipient.username", read_only=True)

    class Meta:
        model = JobMessage
        fields = ["id", "job", "sender", "sender_username", "recipient", "recipient_username", "body", "created_at"]
        read_only_fields = fields


class LoginSerializer(AuthTokenSerializer):
    """DRF's username + password check, behind the failed-login limits (429 when locked)."""

    def validate(self, attrs):
        username, password = attrs.get("username"), attrs.get("password")
        if not (username and password):
            return super().validate(attrs)
        try:
            user = authenticate_within_limits(self.context["request"], username=username, password=password)
        except LoginLocked as locked:
            raise Throttled(wait=locked.wait, detail="Too many failed logins.") from None
        if user is None:
            raise serializers.ValidationError("Unable to log in with provided credentials.", code="authorization")
        attrs["user"] = user
        return attrs


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (see project/api_errors.py)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per input field; non_field_errors for the input as a whole.",
    )


class PaymentDeclinedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    payment = PaymentSerializer()
