"""Admin forms: a template is validated (syntax, allowed tags and filters, known variables) on save."""

from django import forms
from django.core.exceptions import ValidationError

from .models import DigestTemplate, NotificationTemplate
from .rendering import DIGEST_TEMPLATE_FIELDS, digest_default_sources, digest_template_validate, template_validate


class NotificationTemplateForm(forms.ModelForm):
    class Meta:
        model = NotificationTemplate
        fields = ["name", "notification_type", "is_active", "default_priority", "title_template", "message_template",
                  "email_subject_template", "email_body_template"]
        widgets = {
            "title_template": forms.TextInput(attrs={"size": 100}),
            "message_template": forms.Textarea(attrs={"rows": 6, "cols": 100}),
            "email_subject_template": forms.TextInput(attrs={"size": 100}),
            "email_body_template": forms.Textarea(attrs={"rows": 8, "cols": 100}),
        }

    def clean(self):
        cleaned_data = super().clean()
        notification_type = cleaned_data.get("notification_type")
        # Without a valid type there is no variable list to check against; its own error shows.
        if notification_type:
            try:
                template_validate(
                    notification_type=notification_type,
                    title_template=cleaned_data.get("title_template") or "",
                    message_template=cleaned_data.get("message_template") or "",
                    email_subject_template=cleaned_data.get("email_subject_template") or "",
                    email_body_template=cleaned_data.get("email_body_template") or "",
                )
            except ValidationError as exc:
                self.add_error(None, exc)  # a dict of field errors lands on those fields
        return cleaned_data


class DigestTemplateForm(forms.ModelForm):
    """A digest kind's wording, validated like the notification templates (same engine, same rules)."""

    class Meta:
        model = DigestTemplate
        fields = ["kind", *(field for field, _ in DIGEST_TEMPLATE_FIELDS)]
        widgets = {
            "email_subject_template": forms.TextInput(attrs={"size": 100}),
            "email_body_template": forms.Textarea(attrs={"rows": 8, "cols": 100}),
            "push_title_template": forms.TextInput(attrs={"size": 100}),
            "push_body_template": forms.Textarea(attrs={"rows": 3, "cols": 100}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kind = self.initial.get("kind")
        if self.instance.pk is None and kind:  # a new one starts from the catalog's text
            for field, source in digest_default_sources(kind).items():
                self.initial.setdefault(field, source)

    def clean(self):
        cleaned_data = super().clean()
        kind = cleaned_data.get("kind")
        if kind:
            try:
                digest_template_validate(kind=kind, **{field: cleaned_data.get(field) or "" for field, _ in DIGEST_TEMPLATE_FIELDS})
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned_data
