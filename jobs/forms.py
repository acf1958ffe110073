"""Page forms: they check the shape of the input; the services check the rules.

A service's ValidationError is mapped back onto these fields by `add_service_errors`.
"""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from .field_limits import length_limit, number_limits
from .login_limits import LoginLocked, authenticate_within_limits
from .models import CleanerProfile, CleaningJob, JobBid, JobMessage, ServiceType
from .places import place_pin_moved, place_resolve


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form: per field where it names one, else to the form."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)



class PinCoordinateField(forms.FloatField):
    """A hidden coordinate of the map's pin: anything but a number in range counts as no pin."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def clean(self, value):
        try:
            return super().clean(value)
        except ValidationError:
            return None


class JobForm(forms.Form):
    title = forms.CharField(
        **length_limit(CleaningJob, "title"),
        widget=forms.TextInput(attrs={"placeholder": "e.g. Deep clean of a 2-bedroom flat", "autocomplete": "off"}),
    )
    service_type = forms.ChoiceField(choices=[("", "Choose a service")] + list(ServiceType.choices))
    description = forms.CharField(
        required=False,
        **length_limit(CleaningJob, "description"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Rooms, surfaces, pets, access, what to bring…"}),
    )
    address = forms.CharField(
        **length_limit(CleaningJob, "address"),
        widget=forms.TextInput(attrs={"autocomplete": "street-address", "placeholder": "e.g. Prinsengracht 263"}),
        help_text="Street and house number, or a district; a postcode is fine too.",
    )
    city = forms.CharField(**length_limit(CleaningJob, "city"), widget=forms.TextInput(attrs={"autocomplete": "address-level2"}))
    # Set only when the client drags the map's pin; otherwise the job goes where the address is.
    latitude = PinCoordinateField(**number_limits(CleaningJob, "latitude"))
    longitude = PinCoordinateField(**number_limits(CleaningJob, "longitude"))
    scheduled_start = forms.DateTimeField(
        label="Start",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    duration_hours = forms.DecimalField(
        label="Duration (hours)", **number_limits(CleaningJob, "duration_hours"),
        widget=forms.NumberInput(attrs={"step": "0.5", "inputmode": "decimal"}),
    )
    budget = forms.DecimalField(
        label="Budget (€)", **number_limits(CleaningJob, "budget"),
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scheduled_start"].help_text = f"Time zone: {timezone.get_current_timezone_name()}."

    def clean(self):
        """Place the job where the map's pin was dragged, else where the address is; the point goes to the service."""
        cleaned = super().clean()
        if "address" in cleaned and "city" in cleaned:
            try:
                place = place_resolve(address=cleaned["address"], city=cleaned["city"])
                if cleaned.get("latitude") is not None and cleaned.get("longitude") is not None:
                    place = place_pin_moved(place=place, latitude=cleaned["latitude"], longitude=cleaned["longitude"])
            except ValidationError as exc:
                add_service_errors(self, exc)
            else:
                cleaned["latitude"], cleaned["longitude"] = place.latitude, place.longitude
        return cleaned

    def clean_scheduled_start(self):
        start = self.cleaned_data["scheduled_start"]
        if start <= timezone.now():
            raise ValidationError("The start must be in the future.")
        return start


class BidForm(forms.Form):
    amount = forms.DecimalField(
        label="Your price (€)", **number_limits(JobBid, "amount"),
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    message = forms.CharField(
        label="Message to the client", required=False, **length_limit(JobBid, "message"),
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Experience, what you bring, questions…"}),
    )


class MessageForm(forms.Form):
    """The client chooses which cleaner to write to; a cleaner always writes to the client."""

    body = forms.CharField(
        label="Message", **length_limit(JobMessage, "body"),
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a message…"}),
    )
    recipient = forms.TypedChoiceField(label="To", coerce=int, required=False)

    def __init__(self, *args, recipients=None, **kwargs):
        """recipients: [(user_id, label)] for the client; None for a cleaner (no choice)."""
        super().__init__(*args, **kwargs)
        if recipients is None:
            del self.fields["recipient"]
        else:
            self.fields["recipient"].choices = recipients
            self.fields["recipient"].required = True


class LoginLimitsMixin:
    """An authentication form behind the failed-login limits; `locked_for` is the wait when locked."""

    locked_for: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = authenticate_within_limits(self.request, username=username, password=password)
            except LoginLocked as locked:
                self.locked_for = locked.wait
                raise ValidationError(locked.message, code="locked") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(LoginLimitsMixin, AuthenticationForm):
    pass


class AdminLoginForm(LoginLimitsMixin, AdminAuthenticationForm):
    pass


# --- a cleaner's profile --------------------------------------------------------------



class CleanerProfileForm(forms.Form):
    service_types = CleanerProfile._meta.get_field("service_types").formfield(label="Services you offer")
    working_days = CleanerProfile._meta.get_field("working_days").formfield(label="Days you work")
    service_radius_km = forms.FloatField(
        label="How far you travel (km)",
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
        **number_limits(CleanerProfile, "service_radius_km"),
    )
    service_area_address = forms.CharField(
        label="Centre of your area", required=False,
        **length_limit(CleanerProfile, "service_area_address"),
        widget=forms.TextInput(attrs={"autocomplete": "street-address", "placeholder": "e.g. Javastraat 12 or De Pijp"}),
        help_text="A street (with or without a house number) or a district. Jobs within your distance of it reach you.",
    )
    service_area_city = forms.CharField(
        label="City", required=False, **length_limit(CleanerProfile, "service_area_city"),
        widget=forms.TextInput(attrs={"autocomplete": "address-level2", "placeholder": "e.g. Amsterdam"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        radius = self.fields["service_radius_km"]
        radius.help_text = f"Between {radius.min_value:g} and {radius.max_value:g} km."


class DayOffForm(forms.Form):
    day = forms.DateField(label="Day off", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
