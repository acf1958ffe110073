"""Install one active template per notification type, from the catalog's default text.

Idempotent: a type that already has a template (active or not) is left alone, so
staff edits are never overwritten. Reads the catalog module, not the live model.
"""

from django.db import migrations

from notifications.catalog import CATALOG


def default_template_name(notification_type: str) -> str:
    return f"Default: {notification_type.replace('_', ' ').capitalize()}"


def install_default_templates(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    existing = set(NotificationTemplate.objects.values_list("notification_type", flat=True).distinct())
    NotificationTemplate.objects.bulk_create(
        NotificationTemplate(
            name=default_template_name(str(entry.type)),
            notification_type=str(entry.type),
            title_template=entry.title,
            message_template=entry.message,
            default_priority=str(entry.priority),
            is_active=True,
        )
        for entry in CATALOG.values()
        if str(entry.type) not in existing
    )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    # Reversing leaves the rows: 0001's reversal drops the table anyway.
    operations = [migrations.RunPython(install_default_templates, migrations.RunPython.noop)]
