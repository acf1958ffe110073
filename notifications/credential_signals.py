"""Thin receivers: a revoked credential cuts off the streams opened with it (sse.revocation).

Every path that revokes one sends these signals: token deletes (API, admin, queryset
deletes), session deletes (`logout`, `session.flush()`, `cycle_key()`,
`SessionStore.delete`, admin, `clearsessions`) and password changes (any `save()` of a
new password hash: forms, admin, `changepassword`). Session engines without a model
(cache, signed cookies) send no delete signal: this relies on the db session engine.

Receivers publish once the change commits: a rolled-back change cuts nothing.
"""

from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from .sse import revocation

User = get_user_model()


@receiver(post_delete, sender=Token, dispatch_uid="notifications.token_deleted")
def token_deleted(sender, instance: Token, **kwargs):
    transaction.on_commit(partial(revocation.close_token_streams, user_id=instance.user_id, token_key=instance.key))


@receiver(post_delete, sender=Session, dispatch_uid="notifications.session_deleted")
def session_deleted(sender, instance: Session, **kwargs):
    user_id = instance.get_decoded().get("_auth_user_id")  # "" on a session that does not decode
    if user_id:
        transaction.on_commit(
            partial(revocation.disconnect_user, user_id=User._meta.pk.to_python(user_id), session_key=instance.session_key)
        )


@receiver(pre_save, sender=User, dispatch_uid="notifications.user_password_before")
def remember_old_password(sender, instance, raw: bool = False, update_fields=None, **kwargs):
    instance._stream_old_password = None
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    old = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    # From no usable password to one: nobody could have signed in with the old one.
    if old and not old.startswith(UNUSABLE_PASSWORD_PREFIX) and old != instance.password:
        instance._stream_old_password = old


@receiver(post_save, sender=User, dispatch_uid="notifications.user_password_changed")
def password_changed(sender, instance, created: bool, raw: bool = False, **kwargs):
    old_password = getattr(instance, "_stream_old_password", None)
    if created or raw or old_password is None:
        return
    instance._stream_old_password = None
    # Whoever had the old password may have minted a token with it: a new password revokes them all.
    # (Their streams are closed by token_deleted.) The user signs in again to get a new one.
    Token.objects.filter(user=instance).delete()
    transaction.on_commit(partial(revocation.revalidate_user_streams, user_id=instance.pk, old_password_hash=old_password))
