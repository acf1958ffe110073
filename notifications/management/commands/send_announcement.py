"""Send a system_alert to everyone, all cleaners or all clients."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from notifications.plans import AUDIENCES
from notifications.services import announcement_send


class Command(BaseCommand):
    help = "Send an urgent announcement (system_alert) to an audience."

    def add_arguments(self, parser):
        parser.add_argument("--audience", required=True, choices=AUDIENCES)
        parser.add_argument("--title", required=True)
        parser.add_argument("--message", required=True)

    def handle(self, *args, audience, title, message, **options):
        try:
            with transaction.atomic():
                event = announcement_send(audience=audience, title=title, message=message)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(problems) from None
        self.stdout.write(self.style.SUCCESS(f"Announcement queued as outbox event #{event.pk} for {audience}."))
