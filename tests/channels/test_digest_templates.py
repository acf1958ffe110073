"""Digest templates: the notification templates' sandboxed engine and rules, plus item fields inside {% for item in items %}."""

import pytest
from django.core.exceptions import ValidationError

from notifications.catalog import DigestKind
from notifications.models import DigestTemplate
from notifications.rendering import digest_default_sources, digest_preview, digest_render, digest_template_validate

GOOD = {
    "email_subject_template": "{{ count }} bids on {{ job_title }}",
    "email_body_template": "{% for item in items %}{{ forloop.counter }}. {{ item.title }}: {{ item.message|truncatechars:40 }} {{ item.link }}\n{% endfor %}",
    "push_title_template": "{{ count }} bids",
    "push_body_template": "{% if more %}and {{ more }} more{% endif %}",
}


def problems(**changes) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        digest_template_validate(kind="bid_received", **(GOOD | changes))
    return caught.value.message_dict


def test_every_default_is_valid_and_previews():
    for kind in DigestKind.values:
        rendered = digest_preview(kind=kind, **digest_default_sources(kind))
        # Every default says how many (the sample's count is 7).
        assert "7 " in rendered.email_subject and "7 " in rendered.push_title


def test_a_good_template_previews_with_sample_items():
    rendered = digest_preview(kind="bid_received", **GOOD)
    assert rendered.email_subject == "7 bids on Spring clean"
    assert rendered.email_body.startswith("1. New bid on Spring clean: Ben offers €110.00. https://spotless.example/jobs/7/\n2. ")
    assert rendered.push_body == "and 5 more"


@pytest.mark.parametrize(
    "field, source, message",
    [
        ("email_subject_template", "{{ sender_name }}", "Unknown variable 'sender_name' for bid_received digest"),
        ("email_body_template", "{% for item in items %}{{ item.secret }}{% endfor %}", "Unknown field 'item.secret'"),
        ("email_body_template", "{{ items.0.title }}", "Attribute or index access is not allowed: 'items.0.title'"),
        ("email_body_template", "{{ item.title }}", "Attribute or index access is not allowed: 'item.title'"),
        ("email_body_template", "{% for x in count %}{{ x.title }}{% endfor %}", "Attribute or index access is not allowed: 'x.title'"),
        ("email_body_template", "{% for item in items %}{% for i in items %}{% endfor %}{% endfor %}", "Nested {% for %} loops are not allowed."),
        ("push_body_template", "{% load static %}", "Tag 'load' is not allowed"),
        ("push_body_template", "{{ count|safe }}", "Filter 'safe' is not allowed"),
        ("push_title_template", "   ", "This field is required."),
        ("push_title_template", "{% if count %}open", "Template syntax error"),
    ],
)
def test_unsafe_or_unknown_text_is_refused_by_name(field, source, message):
    found = problems(**{field: source})
    assert any(message in problem for problem in found[field]), found


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValidationError) as caught:
        digest_template_validate(kind="payment_received", **GOOD)
    assert "Unknown digest kind" in caught.value.message_dict["kind"][0]


@pytest.mark.django_db
def test_a_broken_stored_row_falls_back_to_the_catalogs_text():
    # Rows can come from a shell or fixture, not only the admin form.
    stored = DigestTemplate.objects.create(kind="bid_received", **(GOOD | {"email_subject_template": "{{ item.secret }}"}))
    context = {"count": 2, "items": [], "more": 0, "job_title": "Attic"}
    assert digest_render(kind="bid_received", context=context, stored=stored).email_subject == "2 new bids on Attic"


@pytest.mark.django_db
def test_the_admin_refuses_a_bad_template_and_previews_a_saved_one(admin_client):
    add = admin_client.get("/admin/notifications/digesttemplate/add/?kind=job_offers").content.decode()
    assert "{{ count }} new jobs near you" in add  # a new one starts from the catalog's text

    bad = admin_client.post("/admin/notifications/digesttemplate/add/", {"kind": "bid_received", **GOOD, "push_title_template": "{{ budget }}"})
    assert bad.status_code == 200
    assert "Unknown variable &#x27;budget&#x27; for bid_received digest" in bad.content.decode()
    assert not DigestTemplate.objects.exists()

    good = admin_client.post("/admin/notifications/digesttemplate/add/", {"kind": "bid_received", **GOOD})
    assert good.status_code == 302
    template = DigestTemplate.objects.get()
    page = admin_client.get(f"/admin/notifications/digesttemplate/{template.pk}/change/").content.decode()
    assert "7 bids on Spring clean" in page and "and 5 more" in page
