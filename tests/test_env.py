"""The environment helpers (project/env.py) and the URL-password mask (project/redaction.py)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_int, env_list, env_rate, env_url
from project.redaction import mask_url_passwords


def test_unset_variables_take_their_defaults(monkeypatch):
    monkeypatch.delenv("SOME_SETTING", raising=False)

    assert env_bool("SOME_SETTING", True) is True
    assert env_int("SOME_SETTING", 5, minimum=1) == 5
    assert env_list("SOME_SETTING", ["a"]) == ["a"]
    assert env_rate("SOME_SETTING", "30/min") == "30/min"
    assert env_url("SOME_SETTING", schemes=("redis",)) == ""


@pytest.mark.parametrize(
    ("raw", "minimum", "maximum", "message"),
    [
        ("11", 1, 10, "SOME_SETTING must be a whole number from 1 to 10, got '11'"),
        ("1.5", None, None, "SOME_SETTING must be a whole number, got '1.5'"),
        ("1_000", None, 2000, "SOME_SETTING must be a whole number <= 2000, got '1_000'"),
        ("٣", 0, None, "SOME_SETTING must be a whole number >= 0, got '٣'"),
    ],
)
def test_a_number_outside_what_is_accepted_is_refused_with_the_bounds(monkeypatch, raw, minimum, maximum, message):
    monkeypatch.setenv("SOME_SETTING", raw)

    with pytest.raises(ImproperlyConfigured) as refused:
        env_int("SOME_SETTING", 1, minimum=minimum, maximum=maximum)

    assert str(refused.value) == message


def test_a_url_with_a_port_that_is_not_a_number_is_refused_without_showing_its_password(monkeypatch):
    monkeypatch.setenv("SOME_URL", "redis://:hunter2@cache:63 79/0")

    with pytest.raises(ImproperlyConfigured) as refused:
        env_url("SOME_URL", schemes=("redis", "rediss"))

    assert str(refused.value) == "SOME_URL must be a URL starting with redis:// or rediss://, got 'redis://:********@cache:63 79/0'"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgres://app:pw@db:5432/x", "postgres://app:********@db:5432/x"),
        ("redis://:pw@cache:6379/0", "redis://:********@cache:6379/0"),
        # An unescaped @ in the password: urlsplit reads up to the last one, so does the mask.
        ("postgres://app:p@ss@db/x", "postgres://app:********@db/x"),
        ("['redis://:a@h1/0', 'redis://u:b@h2/1']", "['redis://:********@h1/0', 'redis://u:********@h2/1']"),
        # No password: nothing to mask.
        ("redis://cache:6379/0 and app@example.com", "redis://cache:6379/0 and app@example.com"),
        ("http://pushpin:5561/publish/", "http://pushpin:5561/publish/"),
    ],
)
def test_only_the_password_of_a_url_is_masked(text, masked):
    assert mask_url_passwords(text) == masked
