"""Bad input on every write endpoint: a 4xx with a clear message, and nothing stored.

The tables run every field of every write endpoint against the same catalogue
of bad values (wrong types, nulls, NUL bytes, lone UTF-16 surrogates, huge and
non-finite numbers, odd Unicode where a number, choice, date, flag, id or map
is expected, very long strings), every endpoint against malformed whole bodies,
and every write endpoint against a body over the upload limit. Odd but valid
Unicode in free-text fields (RTL overrides, zero-width joiners, emoji, combining
marks) is not bad input: it is stored exactly as sent.
"""

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from jobs.models import BidStatus, CleaningJob, JobBid, JobMessage, JobStatus
from tests.factories import PASSWORD, CleanerFactory, CleaningJobFactory, ClientFactory, JobBidFactory
from tests.notifications.factories import NotificationFactory
from tests.security.conftest import raw_json_with
from tests.security.test_object_access import snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_throttles")]


@dataclass(frozen=True)
class Raw:
    """A value written into the JSON text verbatim (json.dumps could not produce it)."""

    text: str


# --- the write endpoints ----------------------------------------------------------------


def _authed(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user=user)
    return api


def job_create():
    payload = {
        "title": "Spring clean",
        "description": "Three rooms.",
        "service_type": "deep",
        "address": "Damrak 1",
        "city": "Amsterdam",
        "latitude": 52.37,
        "longitude": 4.9,
        "scheduled_start": (timezone.now() + timedelta(days=2)).isoformat(),
        "duration_hours": "3.5",
        "budget": "150.00",
    }
    return _authed(ClientFactory()), "post", "/api/jobs/", payload, 201


def bid_place():
    job = CleaningJobFactory()
    return _authed(CleanerFactory()), "post", f"/api/jobs/{job.pk}/bids/", {"amount": "90.00", "message": "Hi"}, 201


def payment_create():
    cleaner = CleanerFactory()
    job = CleaningJobFactory(status=JobStatus.COMPLETED, assigned_cleaner=cleaner)
    JobBidFactory(job=job, cleaner=cleaner, status=BidStatus.ACCEPTED)
    return _authed(job.client), "post", f"/api/jobs/{job.pk}/payments/", {"simulate_failure": False}, 201


def message_send():
    bid = JobBidFactory()
    payload = {"body": "When can you come?", "recipient": bid.cleaner_id}
    return _authed(bid.job.client), "post", f"/api/jobs/{bid.job_id}/messages/", payload, 201


def preferences_put():
    return _authed(ClientFactory()), "put", "/api/notifications/preferences/", {"muted": {"job_created": True}}, 200


def quiet_hours_put():
    payload = {"time_zone": "Europe/Amsterdam", "windows": {"mon": {"start": "22:00", "end": "07:00"}}}
    return _authed(ClientFactory()), "put", "/api/notifications/quiet-hours/", payload, 200


def login():
    user = ClientFactory()
    return APIClient(), "post", "/api/auth/token/", {"username": user.username, "password": PASSWORD}, 200


ENDPOINTS = {f.__name__: f for f in (job_create, bid_place, payment_create, message_send, preferences_put, quiet_hours_put, login)}

FIELDS = {
    "job_create": {
        "title": "text", "description": "text", "service_type": "choice", "address": "text", "city": "text",
        "latitude": "float", "longitude": "float", "scheduled_start": "datetime", "duration_hours": "decimal",
        "budget": "decimal",
    },
    "bid_place": {"amount": "decimal", "message": "text"},
    "payment_create": {"simulate_failure": "bool"},
    "message_send": {"body": "text", "recipient": "id"},
    "preferences_put": {"muted": "map"},
    "quiet_hours_put": {"time_zone": "choice", "windows": "map"},
    "login": {"username": "text", "password": "text"},
}

# --- the bad values -------------------------------------------------------------------

# Bad in every field, whatever it holds.
ANY_FIELD = [
    ("null", None),
    ("empty list", []),
    ("operator object", {"$gt": ""}),
    ("nested list", [["x"]]),
    ("true", True),
    ("lone high surrogate", Raw('"\\ud800"')),
    ("lone low surrogate", Raw('"\\udfff"')),
    ("reversed surrogate pair", Raw('"\\udc00\\ud800"')),
    ("surrogate after text", Raw('"abc\\ud83d"')),
    ("NUL", "\x00"),
    ("NUL inside", "ab\x00cd"),
    ("NUL escape at end", Raw('"abc\\u0000"')),
    ("100k characters", "x" * 100_000),
    ("5000-digit integer", Raw("1" + "0" * 4999)),
]

# Bad wherever the field is not free text (a number, choice, date, flag, id or map).
NOT_TEXT = [
    ("empty string", ""),
    ("blank", "   "),
    ("RTL override", "\u202e90"),
    ("zero-width joiner", "9\u200d0"),
    ("zero-width space", "9\u200b0"),
    ("emoji", "\U0001f9f9"),
    ("combining marks", "9\u0301\u0301\u0301"),
    ("BOM", "\ufeff90"),
    ("fullwidth letters", "\uff41\uff42"),
    ("string 1e309", "1e309"),
    ("string NaN", "NaN"),
    ("string -Infinity", "-Infinity"),
    ("raw 1e309", Raw("1e309")),
    ("raw -1e309", Raw("-1e309")),
    ("10**30", 10**30),
    ("-(10**30)", -(10**30)),
    ("SQL", "1; DROP TABLE jobs_cleaningjob; --"),
]

MAP_ONLY = [
    ("unknown type with RTL override", {"\u202ejob_created": True}),
    ("type with NUL", {"job_created\x00": True}),
    ("type as lone surrogate", Raw('{"\\ud800": true}')),
    ("flag as lone surrogate", Raw('{"job_created": "\\ud800"}')),
    ("flag null", {"job_created": None}),
    ("flag list", {"job_created": [True]}),
    ("flag string", {"job_created": "true"}),
    ("flag 1e309", Raw('{"job_created": 1e309}')),
    ("5000 unknown types", {f"type{n}": True for n in range(5000)}),
]

VALID_FOR = {
    # value id -> field kinds for which that value is in fact acceptable
    "true": {"bool"},
    # recipient may be null or "" (the service then asks which bidder): still a 400 below.
}


def bad_values(kind: str):
    values = [v for v in ANY_FIELD if kind not in VALID_FOR.get(v[0], set())]
    if kind != "text":
        values += NOT_TEXT
    if kind == "map":
        values += MAP_ONLY
    return values


CASES = [
    pytest.param(endpoint, field, value, id=f"{endpoint}.{field}={label}")
    for endpoint, fields in FIELDS.items()
    for field, kind in fields.items()
    for label, value in bad_values(kind)
]


def send(api, method, url, payload, field=None, value=None):
    if isinstance(value, Raw):
        body = raw_json_with(payload, field, value.text)
    else:
        body = json.dumps({**payload, field: value} if field else payload)
    return getattr(api, method)(url, data=body.encode("utf-8", "surrogatepass"), content_type="application/json")


def assert_clear_refusal(response, *, fields: set[str]):
    """A 400 in the API's error shape that names what is wrong in plain words."""
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["code"] in {"invalid", "parse_error"}
    if body["code"] == "invalid":
        assert set(body["errors"]) <= fields | {"non_field_errors"}
        messages = json.dumps(body["errors"])
        assert "Traceback" not in messages and "Exception" not in messages
    return body


def test_every_endpoint_accepts_its_valid_payload():
    # The control for the tables below: each refusal there is about the one bad field.
    for name, make in ENDPOINTS.items():
        api, method, url, payload, success = make()
        assert send(api, method, url, payload).status_code == success, name


@pytest.mark.parametrize("endpoint, field, value", CASES)
def test_a_bad_value_in_any_field_is_a_clear_400_and_stores_nothing(endpoint, field, value):
    api, method, url, payload, _ = ENDPOINTS[endpoint]()
    before = snapshot()

    response = send(api, method, url, payload, field, value)

    body = assert_clear_refusal(response, fields={field})
    if body["code"] == "invalid" and endpoint != "login":
        assert list(body["errors"]) == [field]
    assert snapshot() == before


# --- odd but valid Unicode in free text -------------------------------------------------

ODD_TEXT = [
    ("RTL override", "Clean \u202eenalp\u202c now"),
    ("bidi isolates", "Flat \u2067\u05d3\u05d9\u05e8\u05d4\u2069 3"),
    ("zero-width joiner family", "Family \U0001f469\u200d\U0001f469\u200d\U0001f467 home"),
    ("zero-width space and non-joiner", "a\u200bb\u200cc"),
    ("emoji", "Sparkle \u2728\U0001f9f9\U0001f9fd"),
    ("combining marks", "Z\u0336\u0337\u0338a\u0301\u0302\u0303l\u0327g\u0328o"),
    ("astral letters", "\U0001d54f\U0001d560\U0001d55f"),
    ("line separator inside", "one\u2028two"),
    ("BOM inside", "a\ufeffb"),
    ("HTML", "<script>alert(1)</script>"),
    ("SQL", "'; DROP TABLE jobs_cleaningjob; --"),
]

TEXT_FIELDS = [
    ("job_create", "title", CleaningJob, "title"),
    ("job_create", "description", CleaningJob, "description"),
    ("job_create", "address", CleaningJob, "address"),
    ("job_create", "city", CleaningJob, "city"),
    ("bid_place", "message", JobBid, "message"),
    ("message_send", "body", JobMessage, "body"),
]


@pytest.mark.parametrize("endpoint, field, model, column", TEXT_FIELDS)
@pytest.mark.parametrize("label, text", ODD_TEXT, ids=[label for label, _ in ODD_TEXT])
def test_odd_but_valid_unicode_in_free_text_is_stored_exactly_as_sent(endpoint, field, model, column, label, text):
    api, method, url, payload, success = ENDPOINTS[endpoint]()

    response = send(api, method, url, payload, field, text)

    assert response.status_code == success, response.json()
    assert response.json()[field] == text
    assert model.objects.values_list(column, flat=True).get() == text


@pytest.mark.parametrize("endpoint, field, limit", [
    ("job_create", "title", 120), ("job_create", "address", 255), ("job_create", "city", 100),
    ("job_create", "description", 4000), ("bid_place", "message", 2000), ("message_send", "body", 4000),
])
def test_length_limits_count_characters_not_bytes(endpoint, field, limit):
    # 4-byte emoji: the limit is in characters, and one more is refused.
    api, method, url, payload, success = ENDPOINTS[endpoint]()
    assert send(api, method, url, payload, field, "\U0001f9f9" * limit).status_code == success

    api, method, url, payload, _ = ENDPOINTS[endpoint]()
    before = snapshot()
    response = send(api, method, url, payload, field, "\U0001f9f9" * (limit + 1))

    assert_clear_refusal(response, fields={field})
    assert response.json()["errors"] == {field: [f"Ensure this field has no more than {limit} characters."]}
    assert snapshot() == before


# --- malformed whole bodies -------------------------------------------------------------

BODIES = [
    ("empty list", b"[]"),
    ("null", b"null"),
    ("string", b'"text"'),
    ("number", b"123"),
    ("truncated", b'{"a": '),
    ("trailing garbage", b'{"a": 1} x'),
    ("NaN literal", b'{"a": NaN}'),
    ("single quotes", b"{'a': 1}"),
    ("BOM before JSON", "\ufeff{}".encode()),
    ("invalid UTF-8", b'{"a": "\xff\xfe"}'),
    ("overlong UTF-8 NUL", b'{"a": "\xc0\x80"}'),
    ("100,000 nested lists", b"[" * 100_000),
    ("50,000 nested objects", b'{"a":' * 50_000),
    ("2,000 nested lists, closed", b"[" * 2_000 + b"]" * 2_000),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("label, raw", BODIES, ids=[label for label, _ in BODIES])
def test_a_malformed_body_is_a_clear_400_and_stores_nothing(endpoint, label, raw):
    api, method, url, _, _ = ENDPOINTS[endpoint]()
    before = snapshot()

    response = getattr(api, method)(url, data=raw, content_type="application/json")

    assert_clear_refusal(response, fields=set())
    assert snapshot() == before


def test_json_nested_too_deeply_says_so():
    api, method, url, _, _ = job_create()

    response = api.post(url, data=b"[" * 100_000, content_type="application/json")

    assert response.json() == {"detail": "The request body is nested too deeply.", "code": "parse_error"}


@pytest.mark.parametrize("endpoint", [name for name in ENDPOINTS if name not in ("preferences_put", "quiet_hours_put")])
def test_a_form_with_too_many_fields_is_a_clear_400_and_stores_nothing(endpoint, settings):
    api, method, url, _, _ = ENDPOINTS[endpoint]()
    before = snapshot()
    flood = "&".join(f"f{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))

    response = getattr(api, method)(url, data=flood, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.",
        "code": "parse_error",
    }
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("content_type", ["application/xml", "text/plain", "application/x-yaml"])
def test_an_unsupported_content_type_is_415_and_stores_nothing(endpoint, content_type):
    api, method, url, payload, _ = ENDPOINTS[endpoint]()
    before = snapshot()

    response = getattr(api, method)(url, data=json.dumps(payload), content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {"detail": f'Unsupported media type "{content_type}" in request.',
                               "code": "unsupported_media_type"}
    assert snapshot() == before


# --- oversized bodies -------------------------------------------------------------------


def _transition(action, *, status, by):
    def make():
        cleaner = CleanerFactory()
        job = CleaningJobFactory(status=status, assigned_cleaner=cleaner if status != JobStatus.OPEN else None)
        user = cleaner if by == "cleaner" else job.client
        return _authed(user), "post", f"/api/jobs/{job.pk}/{action}/", {}, 200
    make.__name__ = f"job_{action}"
    return make


def _bid_action(action):
    def make():
        bid = JobBidFactory()
        user = bid.cleaner if action == "withdraw" else bid.job.client
        return _authed(user), "post", f"/api/bids/{bid.pk}/{action}/", {}, 200
    make.__name__ = f"bid_{action}"
    return make


def notification_read():
    note = NotificationFactory(recipient=ClientFactory())
    return _authed(note.recipient), "post", f"/api/notifications/{note.pk}/read/", {}, 200


def notifications_read_all():
    note = NotificationFactory(recipient=ClientFactory())
    return _authed(note.recipient), "post", "/api/notifications/read-all/", {}, 200


def jobs_list():
    return _authed(ClientFactory()), "get", "/api/jobs/", {}, 200


ALL_WRITES = [
    *ENDPOINTS.values(),
    _transition("start", status=JobStatus.ASSIGNED, by="cleaner"),
    _transition("complete", status=JobStatus.IN_PROGRESS, by="cleaner"),
    _transition("cancel", status=JobStatus.OPEN, by="client"),
    _bid_action("accept"),
    _bid_action("reject"),
    _bid_action("withdraw"),
    notification_read,
    notifications_read_all,
    jobs_list,  # even a read with a body
]


def too_large_body(settings) -> dict:
    return {
        "detail": f"The request body is too large: the limit is {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        "code": "request_too_large",
    }


@pytest.mark.parametrize("make", ALL_WRITES, ids=lambda make: make.__name__)
def test_a_body_over_the_limit_is_413_on_every_endpoint_and_changes_nothing(make, settings):
    api, method, url, payload, _ = make()
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({**payload, "padding": ""})
    body = body.replace('"padding": ""', '"padding": "' + "x" * (limit + 1 - len(body)) + '"')
    assert len(body.encode()) == limit + 1
    before = snapshot()

    response = api.generic(method.upper(), url, body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == too_large_body(settings)
    assert snapshot() == before


@pytest.mark.parametrize("content_type, body", [
    ("application/x-www-form-urlencoded", lambda n: "title=" + "x" * n),
    ("multipart/form-data; boundary=BoUnDaRy",
     lambda n: '--BoUnDaRy\r\nContent-Disposition: form-data; name="title"\r\n\r\n' + "x" * n + "\r\n--BoUnDaRy--\r\n"),
    ("application/octet-stream", lambda n: "\x00" * n),
])
def test_an_oversized_body_of_any_content_type_is_413(content_type, body, settings):
    api, method, url, _, _ = job_create()

    response = api.post(url, data=body(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), content_type=content_type)

    assert response.status_code == 413
    assert response.json() == too_large_body(settings)
    assert not CleaningJob.objects.exists()


def test_a_body_at_the_limit_is_read_normally(settings):
    # The limit itself is allowed: the refusal is about the size, nothing else.
    api, method, url, payload, _ = job_create()
    body = json.dumps({**payload, "padding": ""})
    body = body.replace('"padding": ""', '"padding": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - len(body)) + '"')

    response = api.post(url, data=body, content_type="application/json")

    assert response.status_code == 201
    assert CleaningJob.objects.count() == 1


def test_without_the_middleware_a_view_reading_an_oversized_body_still_answers_json_413(settings):
    # Belt and braces: project/api_errors.py maps Django's RequestDataTooBig too.
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "project.middleware.ApiBodySizeLimitMiddleware"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    api, method, url, payload, _ = job_create()

    response = api.post(url, {**payload, "description": "x" * 2_000}, format="json")

    assert response.status_code == 413
    assert response.json() == too_large_body(settings)
    assert not CleaningJob.objects.exists()


def test_pages_outside_the_api_keep_djangos_own_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    browser = APIClient()
    browser.force_login(ClientFactory())

    response = browser.post("/admin/login/", {"username": "x" * 2_000})

    # Not the API's JSON 413: the page gets Django's 400 (and no 500).
    assert response.status_code == 400
