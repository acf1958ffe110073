"""{% webpush_config as push %}: what the opt-in button needs (is push on, the public key)."""

from django import template
from django.conf import settings

from webpush.vapid import webpush_enabled

register = template.Library()


@register.simple_tag
def webpush_config() -> dict:
    return {"enabled": webpush_enabled(), "public_key": settings.VAPID_PUBLIC_KEY}
