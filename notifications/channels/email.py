"""The email channel: a text and an HTML part per delivery, one SMTP connection per batch.

Django's email framework does the wire (SMTP from the EMAIL_* settings, the console
backend in `make run`; a django-anymail backend works the same through EMAIL_BACKEND).
"""

import smtplib
from collections.abc import Iterator

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from .. import plans, rendering
from ..catalog import CATALOG, Channel
from ..models import ChannelDelivery, Notification
from .results import SendResult
from .unsubscribe import unsubscribe_url


def email_send_batch(deliveries: list[ChannelDelivery]) -> Iterator[tuple[int, SendResult]]:
    """Send each delivery's email over one connection, yielding each outcome as it comes."""
    batch = _BatchReads()
    return email_send_messages({delivery.pk: email_message_for(delivery.notification, reads=batch) for delivery in deliveries})


def email_send_messages(messages: dict[int, EmailMultiAlternatives]) -> Iterator[tuple[int, SendResult]]:
    """Send ready messages (by a key of the caller's) over one connection, yielding each outcome as it comes;
    a refused or dropped connection retries the rest."""
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as exc:
        for pk in messages:
            yield pk, SendResult("retry", f"cannot connect: {_describe(exc)}")
        return
    pending = list(messages)
    try:
        while pending:
            pk = pending.pop(0)
            message = messages[pk]
            message.connection = connection
            try:
                connection.send_messages([message])
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                yield pk, SendResult("retry" if all(400 <= c < 500 for c in codes) else "failed", _describe(exc))
            except smtplib.SMTPResponseException as exc:
                yield pk, SendResult("retry" if 400 <= exc.smtp_code < 500 else "failed", _describe(exc))
            except (OSError, smtplib.SMTPException) as exc:  # the connection dropped: this one and the rest later
                for rest in [pk, *pending]:
                    yield rest, SendResult("retry", f"connection lost: {_describe(exc)}")
                return
            else:
                yield pk, SendResult("sent", "accepted by the mail server")
    finally:
        try:
            connection.close()
        except Exception:  # closing a dropped connection: nothing left to lose
            pass


class _BatchReads:
    """What a batch's emails share, read once: each type's active template, each event's variables."""

    def __init__(self):
        self.templates, self.contexts = {}, {}

    def template(self, notification_type: str):
        if notification_type not in self.templates:
            self.templates[notification_type] = rendering.active_template(notification_type)
        return self.templates[notification_type]

    def context(self, notification: Notification) -> dict | None:
        if notification.event_id is None:
            return None
        if notification.event_id not in self.contexts:
            self.contexts[notification.event_id] = _read_event_context(notification.event)
        return self.contexts[notification.event_id]


def email_message_for(notification: Notification, *, reads: _BatchReads | None = None) -> EmailMultiAlternatives:
    """The email of one notification: subject and bodies from the template, a link back, one-click unsubscribe."""
    reads = reads or _BatchReads()
    rendered = rendering.email_render(
        notification_type=notification.notification_type,
        context=reads.context(notification),
        title=notification.title,
        message=notification.message,
        stored=reads.template(notification.notification_type),
    )
    return email_compose(
        template="notification",
        to=notification.recipient,
        notification_type=notification.notification_type,
        subject=rendered.subject,
        context={"body": rendered.body, "link": email_absolute(notification.action_url or "/notifications/")},
    )


def email_compose(*, template: str, to, notification_type: str, subject: str, context: dict) -> EmailMultiAlternatives:
    """A text and an HTML part from notifications/email/<template>.txt/.html, with one-click unsubscribe of the type's email."""
    unsubscribe = unsubscribe_url(user_id=to.pk, notification_type=notification_type, channel=Channel.EMAIL)
    context = {
        **context,
        "subject": subject,
        "unsubscribe_url": unsubscribe,
        "type_label": CATALOG[notification_type].type.label,
        "settings_url": email_absolute("/notifications/preferences/"),
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"notifications/email/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to.email],
        headers={
            # RFC 8058: mail clients offer "unsubscribe" and POST this body to the URL, without a login.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(render_to_string(f"notifications/email/{template}.html", context), "text/html")
    return message


def _read_event_context(event) -> dict | None:
    """The template variables of the notification's event, re-read now (None if its world is gone)."""
    try:
        plan = plans.delivery_plan_for(event_type=event.event_type, payload=event.payload)
    except Exception:
        return None
    return plan.content.context if plan is not None else None


def email_absolute(path: str) -> str:
    return path if path.startswith(("http://", "https://")) else f"{settings.SITE_URL}{path}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {message}"
    return f"{exc.__class__.__name__}: {exc}"
