"""Logging out ends push to that browser: the subscriptions its session stored are deleted."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from .login_sessions import session_endpoints
from .services import push_subscriptions_forget_for_session


@receiver(user_logged_out, dispatch_uid="webpush_forget_on_logout")
def forget_on_logout(sender, request, user, **kwargs):
    if user is not None and request is not None:
        push_subscriptions_forget_for_session(user=user, endpoints=session_endpoints(request))
