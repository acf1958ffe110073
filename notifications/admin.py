"""Django admin for notifications.

Notifications are an append-only record: staff can look and delete, never add or
edit. Templates are validated on save and previewed with the catalog's sample
data. Outbox events can be retried from the change list, and staff send
announcements (system_alert) from a page linked there.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from project.exceptions import DomainError

from . import outbox_audiences, plans, services, trace
from .catalog import CATALOG
from .forms import NotificationTemplateForm
from .models import (
    AccountDeletion,
    ChannelDelivery,
    Notification,
    NotificationPreference,
    NotificationTemplate,
    OutboxChunk,
    OutboxEvent,
    OutboxStatus,
    RetentionRun,
)
from .outbox.recording import outbox_event_retry
from .rendering import email_preview, template_preview


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


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _latency(delta) -> str:
    return "" if delta is None else _seconds(delta.total_seconds())


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


class OutboxChunkInline(admin.TabularInline):
    model = OutboxChunk
    fields = (
        "first_recipient_id",
        "last_recipient_id",
        "recipient_count",
        "is_done",
        "is_failed",
        "attempts",
        "last_error",
        "updated_at",
        "published_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


AUDIENCE_LABELS = {"all": "Everyone", "cleaners": "All cleaners", "clients": "All clients"}


class AnnouncementForm(forms.Form):
    """What staff fill in; services.announcement_send has the final word on validity."""

    audience = forms.ChoiceField(
        choices=[(audience, AUDIENCE_LABELS.get(audience, audience)) for audience in plans.AUDIENCES]
    )
    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"size": 80}))
    message = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 8, "cols": 80}))


class OutboxChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # The page's audiences in a few queries, not a few per row.
        labels = outbox_audiences.audience_labels(list(self.result_list))
        for event in self.result_list:
            event.audience_label = labels[event.pk]


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "event_type",
        "audience",
        "status",
        "progress",
        "attempts",
        "created_at",
        "processed_at",
        "error",
    )
    list_filter = ("status", "event_type")
    readonly_fields = (
        "event_type",
        "audience",
        "progress",
        "funnel",
        "commit_to_delivered",
        "payload",
        "dedupe_key",
        "status",
        "attempts",
        "recipient_count",
        "chunk_count",
        "last_error",
        "created_at",
        "updated_at",
        "processed_at",
    )
    inlines = (OutboxChunkInline,)
    actions = ("retry_events",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return outbox_audiences.with_fanout_progress(super().get_queryset(request))

    def get_changelist(self, request, **kwargs):
        return OutboxChangeList

    @admin.display(description="audience")
    def audience(self, obj):
        label = getattr(obj, "audience_label", None)
        return label if label is not None else outbox_audiences.audience_labels([obj])[obj.pk]

    @admin.display(description="progress")
    def progress(self, obj):
        return outbox_audiences.progress_label(obj)

    @admin.display(description="funnel")
    def funnel(self, obj):
        steps = trace.outbox_event_funnel(obj)
        return format_html(
            '<table class="outbox-funnel"><tr>{}</tr><tr>{}</tr></table>',
            format_html_join("", "<th>{}</th>", ((name,) for name in steps)),
            format_html_join("", "<td>{}</td>", ((count,) for count in steps.values())),
        )

    @admin.display(description="commit to delivered")
    def commit_to_delivered(self, obj):
        latency = trace.outbox_event_delivery_latency(obj)
        if latency is None:
            return "nothing delivered yet"
        return " · ".join(f"p{round(p * 100)} {_seconds(s)}" for p, s in latency.items())

    @admin.display(description="last error")
    def error(self, obj):
        # The whole text is on the change page; the list shows enough to tell failures apart.
        return obj.last_error if len(obj.last_error) <= 120 else obj.last_error[:119] + "…"

    # --- send an announcement ----------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        custom = [
            path(
                "send-announcement/",
                self.admin_site.admin_view(self.send_announcement_view),
                name="%s_%s_send_announcement" % info,
            ),
        ]
        return custom + super().get_urls()

    def has_send_announcement_permission(self, request):
        # The admin never adds outbox rows by hand (has_add_permission is False), so the
        # model's add permission is what grants sending an announcement.
        return request.user.is_active and request.user.is_staff and request.user.has_perm(
            f"{self.opts.app_label}.add_{self.opts.model_name}"
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {"can_send_announcement": self.has_send_announcement_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra_context)

    def send_announcement_view(self, request):
        # admin_view already sent anonymous and non-staff users to the login page and
        # applied csrf_protect and never_cache.
        if not self.has_send_announcement_permission(request):
            raise PermissionDenied
        form = AnnouncementForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    event = services.announcement_send(
                        audience=data["audience"], title=data["title"], message=data["message"]
                    )
            except ValidationError as exc:
                self._errors_onto_form(form, exc)
            else:
                audience_label = AUDIENCE_LABELS.get(data["audience"], data["audience"]).lower()
                self.message_user(
                    request,
                    f"Announcement queued for {audience_label} as outbox event #{event.pk}.",
                    messages.SUCCESS,
                )
                if self.has_view_or_change_permission(request):
                    return redirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
                return redirect(reverse("admin:index", current_app=self.admin_site.name))
        context = {
            **self.admin_site.each_context(request),
            "title": "Send announcement",
            "subtitle": None,
            "opts": self.opts,
            "form": form,
            "has_view_permission": self.has_view_or_change_permission(request),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/notifications/outboxevent/send_announcement.html", context)

    @staticmethod
    def _errors_onto_form(form, exc):
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)

    @admin.action(description="Retry selected events", permissions=["change"])
    def retry_events(self, request, queryset):
        retried, skipped, refused = 0, 0, []
        for event_id, event_status in queryset.values_list("pk", "status"):
            if event_status == OutboxStatus.DONE:
                skipped += 1  # the service leaves finished events alone
                continue
            try:
                outbox_event_retry(event_id=event_id)
            except DomainError as exc:
                refused.append(f"#{event_id}: {exc.message}")
            else:
                retried += 1
        if retried:
            self.message_user(request, f"{retried} event(s) queued for retry.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} event(s) already done; not retried.", messages.INFO)
        if refused:
            self.message_user(request, "Not retried: " + "; ".join(refused), messages.WARNING)


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
