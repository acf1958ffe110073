"""Admin forms: a template is validated (syntax, allowed tags and filters, known variables) on save."""

from django import forms
from django.core.exceptions import ValidationError

from .models import NotificationTemplate
from .rendering import template_validate


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
