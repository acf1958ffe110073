"""VAPID keys: development keys made once and kept; the signed header reused per push service until near expiry."""

import json
import stat

from devtools.push_service import vapid_claims
from webpush.vapid import dev_vapid_keys, vapid_authorization, vapid_keys_generate, vapid_public_key_of


def test_development_keys_are_made_once_private_to_the_owner_and_kept(tmp_path):
    path = tmp_path / "vapid-dev.json"

    first = dev_vapid_keys(path)
    again = dev_vapid_keys(path)

    assert first == again == tuple(json.loads(path.read_text()).values())
    assert vapid_public_key_of(first[1]) == first[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_one_signature_per_push_service_and_key(settings, vapid_keys):
    first = vapid_authorization("https://fcm.googleapis.com/fcm/send/a")
    assert vapid_authorization("https://fcm.googleapis.com/fcm/send/b") == first
    other_service = vapid_authorization("https://updates.push.services.mozilla.com/wpush/v2/x")
    assert other_service != first
    assert vapid_claims(other_service, public_key=vapid_keys[0])["aud"] == "https://updates.push.services.mozilla.com"

    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = (new := vapid_keys_generate())
    rotated = vapid_authorization("https://fcm.googleapis.com/fcm/send/a")
    assert vapid_claims(rotated, public_key=new[0])["aud"] == "https://fcm.googleapis.com"
