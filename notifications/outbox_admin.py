"""The admin's outbox pages: each event's audience, progress, funnel and latency, retries, announcements.

Outbox events can be retried from the change list, and staff send announcements
(system_alert) from a page linked there.
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
from .models import OutboxChunk, OutboxEvent, OutboxStatus
from .outbox.recording import outbox_event_retry


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
        return " · ".join(f"p{round(p * 100)} {trace.duration_label(s)}" for p, s in latency.items())

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
