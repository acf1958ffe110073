"""Django admin for notifications.

Notifications are an append-only record: staff can look and delete, never add or
edit. Templates are validated on save and previewed with the catalog's sample
data. The outbox's pages (retries, announcements) are in outbox_admin.py.
"""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import outbox_admin, trace  # noqa: F401  (outbox_admin registers the outbox's pages)
from .catalog import CATALOG, DIGEST_ITEM_FIELDS, DigestKind, digest_variables
from .forms import DigestTemplateForm, NotificationTemplateForm
from .models import (
    AccountDeletion,
    ChannelDelivery,
    ChannelDigest,
    DigestTemplate,
    JobOfferPushCap,
    Notification,
    NotificationPreference,
    NotificationTemplate,
    QuietHours,
    RetentionRun,
)
from .quiet_hours import WEEKDAYS
from .rendering import DIGEST_TEMPLATE_FIELDS, digest_preview, email_preview, template_preview


PREVIEW_LINE_CHARS = 110


def _preview_of(template: NotificationTemplate):
    """(the template rendered with sample data, or None; the problems that stopped it)."""
    try:
        rendered = template_preview(
            notification_type=template.notification_type,
            title_template=template.title_template,
            message_template=template.message_template,
        )
    except ValidationError as exc:
        return None, exc.messages
    return rendered, []


def _shortened(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    form = NotificationTemplateForm
    list_display = ("name", "notification_type", "is_active", "default_priority", "preview_line", "updated_at")
    list_filter = ("notification_type", "is_active", "default_priority")
    search_fields = ("name", "title_template", "message_template")
    readonly_fields = ("available_variables", "preview", "email_preview")
    fieldsets = (
        (None, {"fields": ("name", "notification_type", "is_active", "default_priority")}),
        ("Text", {"fields": ("title_template", "message_template", "available_variables")}),
        ("Email (blank: the notification's title and message)", {"fields": ("email_subject_template", "email_body_template")}),
        ("Preview with sample data", {"fields": ("preview", "email_preview")}),
    )

    @admin.display(description="preview with sample data")
    def preview_line(self, obj):
        """What the next notification of this type will say, on one short line."""
        rendered, problems = _preview_of(obj)
        if problems:
            return format_html('<span class="errornote">invalid: {}</span>', " ".join(problems))
        return _shortened(f"{rendered.title} — {rendered.message}", PREVIEW_LINE_CHARS)

    @admin.display(description="Available variables")
    def available_variables(self, obj):
        if obj is not None and obj.notification_type in CATALOG:
            return ", ".join(CATALOG[obj.notification_type].variables)
        rows = ((entry.type, ", ".join(entry.variables)) for entry in CATALOG.values())
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))

    @admin.display(description="Preview")
    def preview(self, obj):
        if obj is None or obj.pk is None:
            return "Save the template to see a preview."
        rendered, problems = _preview_of(obj)
        if problems:
            return format_html_join("", "<p class='errornote'>{}</p>", ((m,) for m in problems))
        # Plain text, shown as such: format_html escapes it.
        return format_html(
            '<div class="notification-preview"><p><strong>{}</strong></p>'
            '<p style="white-space: pre-wrap">{}</p></div>',
            rendered.title,
            rendered.message,
        )


    @admin.display(description="Email preview")
    def email_preview(self, obj):
        if obj is None or obj.pk is None:
            return "Save the template to see a preview."
        try:
            rendered = email_preview(
                notification_type=obj.notification_type,
                email_subject_template=obj.email_subject_template,
                email_body_template=obj.email_body_template,
            )
        except ValidationError as exc:
            return format_html_join("", "<p class='errornote'>{}</p>", ((m,) for m in exc.messages))
        return format_html(
            '<div class="email-preview"><p>Subject: <strong>{}</strong></p><p style="white-space: pre-wrap">{}</p></div>',
            rendered.subject,
            rendered.body,
        )


@admin.register(DigestTemplate)
class DigestTemplateAdmin(admin.ModelAdmin):
    """One per digest kind; without one the catalog's text is used (a new one starts from it: ?kind=...)."""

    form = DigestTemplateForm
    list_display = ("kind", "email_subject_template", "push_title_template", "updated_at")
    readonly_fields = ("available_variables", "preview")
    fieldsets = (
        (None, {"fields": ("kind", "available_variables")}),
        ("Email", {"fields": ("email_subject_template", "email_body_template")}),
        ("Push", {"fields": ("push_title_template", "push_body_template")}),
        ("Preview with sample data", {"fields": ("preview",)}),
    )

    @admin.display(description="Available variables")
    def available_variables(self, obj):
        items = f"items (each: {', '.join(f'item.{name}' for name in DIGEST_ITEM_FIELDS)} inside {{% for item in items %}})"
        rows = ((label, ", ".join(name if name != "items" else items for name in digest_variables(kind))) for kind, label in DigestKind.choices)
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))

    @admin.display(description="Preview")
    def preview(self, obj):
        if obj is None or obj.pk is None:
            return "Save the template to see a preview."
        try:
            rendered = digest_preview(kind=obj.kind, **{field: getattr(obj, field) for field, _ in DIGEST_TEMPLATE_FIELDS})
        except ValidationError as exc:
            return format_html_join("", "<p class='errornote'>{}</p>", ((m,) for m in exc.messages))
        return format_html(
            '<div class="digest-preview"><p>Email subject: <strong>{}</strong></p><p style="white-space: pre-wrap">{}</p>'
            '<p>Push: <strong>{}</strong></p><p style="white-space: pre-wrap">{}</p></div>',
            rendered.email_subject, rendered.email_body, rendered.push_title, rendered.push_body,
        )


@admin.register(ChannelDigest)
class ChannelDigestAdmin(admin.ModelAdmin):
    """Every digest (and open window): its batch, why it holds, where it stands."""

    list_display = ("id", "user", "channel", "batch_key", "reason", "state", "window_ends_at", "member_count", "attempts", "sent_at", "cancel_reason")
    list_filter = ("state", "channel", "reason", "kind")
    search_fields = ("user__username", "batch_key")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JobOfferPushCap)
class JobOfferPushCapAdmin(admin.ModelAdmin):
    list_display = ("user", "per_hour", "updated_at")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


def _latency(delta) -> str:
    return "" if delta is None else trace.duration_label(delta.total_seconds())


class ExpiredFilter(admin.SimpleListFilter):
    title = "expired"
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(expired_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(expired_at__isnull=True)
        return queryset


class ChannelDeliveryInline(admin.TabularInline):
    model = ChannelDelivery
    fields = ("channel", "state", "due_at", "attempts", "sent_at", "cancel_reason", "provider_response", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChannelDelivery)
class ChannelDeliveryAdmin(admin.ModelAdmin):
    """Every email and push: where it stands and what the provider answered."""

    list_display = ("id", "notification_link", "channel", "state", "due_at", "attempts", "sent_at", "cancel_reason", "provider_response")
    list_filter = ("state", "channel", "notification__notification_type")
    search_fields = ("notification__recipient__username",)
    list_select_related = ("notification",)
    raw_id_fields = ("notification",)
    show_full_result_count = False

    @admin.display(description="notification")
    def notification_link(self, obj):
        url = reverse("admin:notifications_notification_change", args=[obj.notification_id])
        return format_html('<a href="{}">{} #{}</a>', url, obj.notification.notification_type, obj.notification_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "recipient", "notification_type", "priority", "title", "is_read", "is_expired", "created_at")
    list_filter = ("notification_type", "priority", "is_read", ExpiredFilter)
    search_fields = ("title", "recipient__username")
    list_select_related = ("recipient",)
    raw_id_fields = ("recipient", "event", "job")
    # Counting a very large table on every page load is the slow part.
    show_full_result_count = False
    readonly_fields = ("timeline",)
    inlines = [ChannelDeliveryInline]

    @admin.display(boolean=True, description="expired")
    def is_expired(self, obj):
        return obj.is_expired

    @admin.display(description="timeline")
    def timeline(self, obj):
        """Commit, insert, publish, receipts: each hop's time and its latency from the one before."""
        rows = (
            (hop.name, hop.at.isoformat(timespec="milliseconds") if hop.at else "—", _latency(hop.since_previous))
            for hop in trace.notification_timeline(obj)
        )
        return format_html(
            '<table class="notification-timeline"><tr><th>hop</th><th>at</th><th>after the previous</th></tr>{}</table>',
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "notification_type", "is_muted", "updated_at")
    list_filter = ("notification_type", "is_muted")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record the system writes: staff look, never add, edit or delete."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    """What each run of the retention purge removed (notifications/retention.py)."""

    list_display = ("id", "started_at", "finished_at", "deleted", "by_type", "batches", "first_id", "next_id", "stopped_because")

    @admin.display(description="deleted by type")
    def by_type(self, run: RetentionRun) -> str:
        return ", ".join(f"{t}: {n}" for t, n in run.deleted_by_type.items()) or "-"


@admin.register(AccountDeletion)
class AccountDeletionAdmin(ReadOnlyAdmin):
    list_display = ("user_id", "requested_at", "finished_at", "notifications_deleted", "outcome")


@admin.register(QuietHours)
class QuietHoursAdmin(ReadOnlyAdmin):
    """Each user's zone and windows, for "why did my email wait?". Changed only through the preferences
    page and the API, where quiet_hours_parse checks them."""

    list_display = ("user", "time_zone", "windows_shown", "updated_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "time_zone", "windows_shown", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("windows")

    @admin.display(description="windows (local time)")
    def windows_shown(self, quiet_hours: QuietHours) -> str:
        windows = sorted(quiet_hours.windows.all(), key=lambda window: WEEKDAYS.index(window.weekday))
        return ", ".join(f"{window.get_weekday_display()} {window.start:%H:%M}-{window.end:%H:%M}" for window in windows) or "-"
