"""Which saves revoke a user's API tokens (notifications/credential_signals.py)."""

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def test_a_password_change_revokes_that_users_tokens_only():
    user, other = ClientFactory(), ClientFactory()
    Token.objects.create(user=user)
    kept = Token.objects.create(user=other)

    user.set_password("a-new-password")
    user.save()

    assert list(Token.objects.values_list("key", flat=True)) == [kept.key]


def test_saves_that_keep_the_password_revoke_nothing():
    user = ClientFactory()
    token = Token.objects.create(user=user)

    user.first_name = "Renamed"
    user.save()
    user.set_password("not-saved-with-the-last-login")
    user.save(update_fields=["last_login"])  # what every sign-in does

    assert list(Token.objects.values_list("key", flat=True)) == [token.key]


def test_a_first_usable_password_revokes_nothing():
    user = ClientFactory()
    user.set_unusable_password()
    user.save()  # from a usable password: revokes (nothing yet)
    token = Token.objects.create(user=user)

    user.set_password("now-they-can-sign-in")
    user.save()

    assert list(Token.objects.values_list("key", flat=True)) == [token.key]
