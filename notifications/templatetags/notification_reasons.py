"""{{ notification|reason }}: why it reached its recipient (notifications.reasons)."""

from django import template

from ..reasons import reason_text

register = template.Library()


@register.filter
def reason(notification) -> str:
    return reason_text(notification)
