"""The service worker's address and headers, the opt-in block on the preferences page, the admin, the key command."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from devtools.push_service import BrowserSubscription
from tests.factories import UserFactory
from webpush.models import PushSubscription
from webpush.vapid import b64url_decode, vapid_public_key_of

ROOT = Path(__file__).resolve().parents[2]


def test_the_service_worker_is_served_from_the_root_for_the_whole_site(client):
    response = client.get("/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    source = response.content.decode()
    assert 'addEventListener("push"' in source and 'addEventListener("notificationclick"' in source


@pytest.mark.django_db
def test_the_preferences_page_offers_the_button_with_the_servers_key(client, vapid_keys):
    client.force_login(UserFactory())
    page = client.get(reverse("notifications:preferences")).content.decode()

    assert 'id="push-optin"' in page and 'data-enabled="true"' in page
    assert f'data-public-key="{vapid_keys[0]}"' in page
    assert "webpush/push-optin.js" in page
    assert "Save settings" in page  # the rest of the page is still there


@pytest.mark.django_db
def test_without_keys_the_page_says_push_is_not_set_up(client, settings):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    client.force_login(UserFactory())
    page = client.get(reverse("notifications:preferences")).content.decode()

    assert 'data-enabled="false"' in page
    assert "Push notifications are not set up on this server." in page


@pytest.mark.django_db
def test_the_admin_lists_subscriptions_without_their_keys(admin_client):
    keys = BrowserSubscription("https://fcm.googleapis.com/fcm/send/secret-token-123")
    row = PushSubscription.objects.create(user=UserFactory(username="ann"), endpoint=keys.endpoint, p256dh=keys.p256dh, auth=keys.auth)

    listing = admin_client.get(reverse("admin:webpush_pushsubscription_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:webpush_pushsubscription_change", args=[row.pk])).content.decode()

    assert "ann" in listing and "fcm.googleapis.com" in listing
    for page in (listing, detail):
        assert keys.p256dh not in page and keys.auth not in page and "secret-token-123" not in page
    assert keys.p256dh[:8] in detail


def test_the_key_command_prints_a_matching_pair_as_environment_lines():
    out = StringIO()
    call_command("webpush_vapid_keys", stdout=out, stderr=StringIO())

    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    public, private = lines["VAPID_PUBLIC_KEY"], lines["VAPID_PRIVATE_KEY"]
    assert len(b64url_decode(public)) == 65 and b64url_decode(public)[0] == 4
    assert len(b64url_decode(private)) == 32
    assert vapid_public_key_of(private) == public


def load_settings(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(bool(settings.VAPID_PRIVATE_KEY))"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DEBUG": "false", "SECRET_KEY": "x" * 50, **env},
        capture_output=True, text=True, timeout=60,
    )


def test_half_a_key_pair_stops_the_process_with_one_line():
    result = load_settings(VAPID_PUBLIC_KEY="B" + "A" * 86)
    assert result.returncode != 0
    assert "VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are set together" in result.stderr


def test_without_keys_and_debug_off_push_is_off():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_keys_that_are_not_one_pair_stop_the_process_with_one_line():
    from webpush.vapid import vapid_keys_generate

    public, _ = vapid_keys_generate()
    _, private = vapid_keys_generate()
    result = load_settings(VAPID_PUBLIC_KEY=public, VAPID_PRIVATE_KEY=private)
    assert result.returncode != 0
    assert "VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY" in result.stderr
