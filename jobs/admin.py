"""Django admin for the marketplace.

Built for a large user table (100,000+ users): every user or job foreign key is an
autocomplete (never a <select> of every row), change lists join what they show with
list_select_related, and no list filter enumerates users.

Admin edits are raw data edits: they do not go through jobs/services.py, so they
skip the business rules (state machine, eligibility). Use them to fix data.
"""

from django.contrib import admin
from django.db.models import ExpressionWrapper, F, IntegerField

from .forms import AdminLoginForm
from .models import (
    CleanerProfile,
    CleanerUnavailability,
    CleaningJob,
    ClientBlock,
    JobBid,
    JobMessage,
    Payment,
    ServiceType,
    Weekday,
)

# The admin's login is a third door for password guesses: the same limits as the others.
admin.site.login_form = AdminLoginForm


def _choice_set_display(field_name: str, choices):
    """A change-list column that lists a ChoiceSetField's labels in choice order."""

    def display(_model_admin, obj):
        values = getattr(obj, field_name) or ()
        return ", ".join(label for value, label in choices if value in values) or "-"

    return display


class _BitFilter(admin.SimpleListFilter):
    """Filter a ChoiceSetField by one choice: a single bitwise AND in SQL."""

    field_name: str
    options: list

    def lookups(self, request, model_admin):
        return self.options

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        bit = CleanerProfile._meta.get_field(self.field_name).bit(value)
        flag = f"_{self.parameter_name}_bit"
        return queryset.alias(
            **{flag: ExpressionWrapper(F(self.field_name).bitand(bit), output_field=IntegerField())}
        ).filter(**{f"{flag}__gt": 0})


class ServiceTypeFilter(_BitFilter):
    title = "service offered"
    parameter_name = "offers"
    field_name = "service_types"
    options = ServiceType.choices


class WorkingDayFilter(_BitFilter):
    title = "works on"
    parameter_name = "works_on"
    field_name = "working_days"
    options = Weekday.choices


class CleanerUnavailabilityInline(admin.TabularInline):
    model = CleanerUnavailability
    extra = 0
    ordering = ["-date"]


@admin.register(CleanerProfile)
class CleanerProfileAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "user",
        "is_verified",
        "rating",
        "service_radius_km",
        "services",
        "days",
        "latitude",
        "longitude",
        "created_at",
    ]
    list_display_links = ["id", "user"]
    list_filter = ["is_verified", ServiceTypeFilter, WorkingDayFilter, "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]
    # The address is what the cleaner typed on their profile page, where it is geocoded;
    # staff move the point itself, so the address is shown, not edited, here.
    readonly_fields = ["created_at", "service_area_address", "service_area_city"]
    inlines = [CleanerUnavailabilityInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["user", "is_verified", "rating", "created_at"]}),
        ("Services", {"fields": ["service_types", "working_days"]}),
        ("Area", {"fields": ["service_area_address", "service_area_city", "latitude", "longitude", "service_radius_km"]}),
    ]

    services = admin.display(description="services")(
        _choice_set_display("service_types", ServiceType.choices)
    )
    days = admin.display(description="working days")(
        _choice_set_display("working_days", Weekday.choices)
    )


@admin.register(CleanerUnavailability)
class CleanerUnavailabilityAdmin(admin.ModelAdmin):
    list_display = ["id", "cleaner_username", "date"]
    list_filter = ["date"]
    date_hierarchy = "date"
    list_select_related = ["cleaner__user"]
    search_fields = ["cleaner__user__username", "cleaner__user__email"]
    autocomplete_fields = ["cleaner"]
    show_full_result_count = False

    @admin.display(description="cleaner", ordering="cleaner__user__username")
    def cleaner_username(self, obj):
        return obj.cleaner.user.username


@admin.register(ClientBlock)
class ClientBlockAdmin(admin.ModelAdmin):
    list_display = ["id", "client", "cleaner", "created_at"]
    list_filter = ["created_at"]
    list_select_related = ["client", "cleaner"]
    search_fields = ["client__username", "client__email", "cleaner__username", "cleaner__email"]
    autocomplete_fields = ["client", "cleaner"]
    readonly_fields = ["created_at"]
    show_full_result_count = False


class JobBidInline(admin.TabularInline):
    model = JobBid
    extra = 0
    fields = ["cleaner", "amount", "status", "message", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["cleaner"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("cleaner")


@admin.register(CleaningJob)
class CleaningJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "client",
        "service_type",
        "city",
        "scheduled_start",
        "status",
        "assigned_cleaner",
        "budget",
        "created_at",
    ]
    list_display_links = ["id", "title"]
    list_filter = ["status", "service_type", "scheduled_start", "created_at"]
    date_hierarchy = "scheduled_start"
    list_select_related = ["client", "assigned_cleaner"]
    search_fields = ["title", "city", "address", "client__username", "client__email"]
    autocomplete_fields = ["client", "assigned_cleaner"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [JobBidInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["client", "title", "description", "service_type", "status", "assigned_cleaner"]}),
        ("Where and when", {"fields": ["address", "city", "latitude", "longitude", "scheduled_start", "duration_hours"]}),
        ("Money", {"fields": ["budget"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(JobBid)
class JobBidAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "cleaner", "amount", "status", "created_at"]
    list_filter = ["status", "created_at"]
    list_select_related = ["job", "cleaner"]
    search_fields = ["job__title", "cleaner__username", "cleaner__email"]
    autocomplete_fields = ["job", "cleaner"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "payer", "payee", "amount", "status", "provider_reference", "created_at"]
    list_filter = ["status", "created_at"]
    list_select_related = ["job", "payer", "payee"]
    search_fields = ["provider_reference", "job__title", "payer__username", "payee__username"]
    autocomplete_fields = ["job", "payer", "payee"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False


@admin.register(JobMessage)
class JobMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "sender", "recipient", "excerpt", "created_at"]
    list_filter = ["created_at"]
    list_select_related = ["job", "sender", "recipient"]
    search_fields = ["body", "job__title", "sender__username", "recipient__username"]
    autocomplete_fields = ["job", "sender", "recipient"]
    readonly_fields = ["created_at"]
    show_full_result_count = False

    @admin.display(description="message")
    def excerpt(self, obj):
        return obj.body if len(obj.body) <= 60 else obj.body[:57] + "..."
