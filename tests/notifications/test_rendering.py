import importlib
import logging
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from notifications.catalog import CATALOG, NotificationType, sample_context
from notifications.models import NotificationTemplate
from notifications.rendering import (
    MESSAGE_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    RenderedText,
    template_preview,
    template_render,
    template_validate,
)
from tests.factories import UserFactory
from tests.notifications.factories import NotificationTemplateFactory

JOB_CREATED = NotificationType.JOB_CREATED


def errors_for(title="ok", message="ok", notification_type=JOB_CREATED) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as excinfo:
        template_validate(notification_type=notification_type, title_template=title, message_template=message)
    return excinfo.value.message_dict


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize("entry", CATALOG.values(), ids=lambda e: e.type)
def test_catalog_defaults_are_valid(entry):
    template_validate(notification_type=entry.type, title_template=entry.title, message_template=entry.message)


@pytest.mark.parametrize(
    "source, tag",
    [
        ("{% load static %}", "load"),
        ("{% include 'admin/base.html' %}", "include"),
        ("{% extends 'admin/base.html' %}", "extends"),
        ("{% debug %}", "debug"),
        ("{% ssi '/etc/passwd' %}", "ssi"),
        ("{% block title %}x{% endblock %}", "block"),
        ("{% csrf_token %}", "csrf_token"),
        ("{% url 'admin:index' %}", "url"),
        ("{% templatetag openblock %}", "templatetag"),
        ("{% lorem %}", "lorem"),
        ("{% cycle 'a' 'b' %}", "cycle"),
        ("{% widthratio 1 2 3 %}", "widthratio"),
        ("{% autoescape on %}{{ job_title }}{% endautoescape %}", "autoescape"),
        ("{% filter upper %}x{% endfilter %}", "filter"),
        ("{% verbatim %}{{ job_title }}{% endverbatim %}", "verbatim"),
        ("{% now 'Y' %}", "now"),
        ("{% no_such_tag %}", "no_such_tag"),
    ],
)
def test_refuses_tags_outside_the_allow_list(source, tag):
    errors = errors_for(message=source)
    assert errors == {"message_template": [f"Tag '{tag}' is not allowed; allowed tags: if, for, with, firstof."]}


@pytest.mark.parametrize(
    "name, source",
    [
        ("safe", "{{ job_title|safe }}"),
        ("escape", "{{ job_title|escape }}"),
        ("linebreaks", "{% if job_title|linebreaks %}x{% endif %}"),
        ("join", "{% with x=job_title|join:job_title %}{{ x }}{% endwith %}"),
        ("floatformat", "{{ budget|floatformat:'100000' }}"),
        ("ljust", "{{ job_title|ljust:'100000' }}"),
        ("add", "{% for x in job_title|add:job_title %}{% endfor %}"),
        ("date", "{{ scheduled_start|date:'Y' }}"),
    ],
)
def test_refuses_filters_outside_the_allow_list(name, source):
    errors = errors_for(title=source)
    assert len(errors["title_template"]) == 1
    assert errors["title_template"][0].startswith(f"Filter '{name}' is not allowed")


def test_refuses_unknown_variable_and_names_the_available_ones():
    errors = errors_for(title="{{ foo }}")
    assert errors == {
        "title_template": [
            "Unknown variable 'foo' for job_created; available: "
            "job_title, job_city, service_type, scheduled_start, budget, client_name."
        ]
    }


@pytest.mark.parametrize(
    "source",
    [
        "{% if foo %}x{% endif %}",
        "{% if job_title and not foo %}x{% endif %}",
        "{% for x in foo %}{{ x }}{% endfor %}",
        "{% with x=foo %}{{ x }}{% endwith %}",
        "{% firstof job_title foo %}",
        "{{ job_title|default:foo }}",
        "{% for x in job_title %}{% endfor %}{{ x }}",  # the loop variable ends with the loop
    ],
)
def test_refuses_unknown_variables_inside_tags_and_filter_arguments(source):
    assert "Unknown variable" in errors_for(message=source)["message_template"][0]


@pytest.mark.parametrize("source", ["{{ job_title.upper }}", "{{ job_title.0 }}", "{% if job_title.strip %}x{% endif %}"])
def test_refuses_attribute_and_index_access(source):
    message = errors_for(title=source)["title_template"][0]
    assert message.startswith("Attribute or index access is not allowed")


def test_refuses_dunder_access():
    assert "may not begin with underscores" in errors_for(title="{{ job_title.__class__ }}")["title_template"][0]


@pytest.mark.parametrize("source", ["{% if job_title %}", "{{ job_title|default:'x }}", "{% for %}", "{{ }}"])
def test_refuses_syntax_errors(source):
    assert errors_for(message=source)["message_template"][0].startswith("Template syntax error:")


def test_refuses_nested_loops():
    source = "{% for a in job_title %}{% for b in job_city %}{{ a }}{{ b }}{% endfor %}{% endfor %}"
    assert errors_for(message=source) == {"message_template": ["Nested {% for %} loops are not allowed."]}


def test_refuses_too_long_templates():
    errors = errors_for(title="x" * 301, message="y" * 4001)
    assert errors["title_template"] == ["Too long: 301 characters, at most 300."]
    assert errors["message_template"] == ["Too long: 4001 characters, at most 4000."]


def test_reports_both_fields_and_every_problem():
    errors = errors_for(title="{{ foo }}{% load x %}", message="{{ bar }}{{ baz|safe }}")
    assert errors["title_template"] == ["Tag 'load' is not allowed; allowed tags: if, for, with, firstof."]
    assert len(errors["message_template"]) == 3


def test_refuses_unknown_type():
    assert "notification_type" in errors_for(notification_type="nope")


def test_accepts_the_allowed_constructs():
    template_validate(
        notification_type=JOB_CREATED,
        title_template="{{ job_title|truncatechars:40|upper }}",
        message_template=(
            "{% if budget %}{{ budget }}{% elif job_city %}{{ job_city|lower }}{% else %}-{% endif %}"
            "{% for c in job_city %}{{ c }}{{ forloop.counter }}{% empty %}none{% endfor %}"
            "{% with place=job_city|default:'somewhere' %}{{ place|title }}{% endwith %}"
            "{% firstof client_name 'someone' as who %}{{ who }} {{ 'literal' }} {# a comment #}"
        ),
    )


# --- rendering --------------------------------------------------------------------


@pytest.mark.django_db
def test_render_uses_the_active_template(django_assert_num_queries):
    NotificationTemplate.objects.filter(notification_type=JOB_CREATED).update(is_active=False)
    NotificationTemplateFactory(
        title_template="{{ job_title|upper }}", message_template="In {{ job_city }}", default_priority="urgent",
        is_active=True,
    )
    with django_assert_num_queries(1):
        rendered = template_render(notification_type=JOB_CREATED, context={"job_title": "Flat", "job_city": "Delft"})
    assert rendered == RenderedText(title="FLAT", message="In Delft", priority="urgent")


@pytest.mark.django_db
def test_render_falls_back_to_the_built_in_default_with_a_warning(caplog):
    NotificationTemplate.objects.filter(notification_type=JOB_CREATED).update(is_active=False)
    with caplog.at_level(logging.WARNING, logger="notifications.rendering"):
        rendered = template_render(notification_type=JOB_CREATED, context=sample_context(JOB_CREATED))
    assert rendered.title == "New Deep cleaning job in Amsterdam"
    assert rendered.priority == CATALOG[JOB_CREATED].priority
    assert "No active template for job_created" in caplog.text


@pytest.mark.django_db
def test_render_falls_back_when_a_stored_template_is_unsafe(caplog):
    # A row written around the admin form (shell, fixture) is still checked.
    NotificationTemplate.objects.filter(notification_type=JOB_CREATED).update(
        title_template="{% load static %}{{ job_title.__class__ }}"
    )
    with caplog.at_level(logging.ERROR, logger="notifications.rendering"):
        rendered = template_render(notification_type=JOB_CREATED, context=sample_context(JOB_CREATED))
    assert rendered.title == "New Deep cleaning job in Amsterdam"
    assert "failed to render" in caplog.text


@pytest.mark.django_db
def test_render_does_not_escape_html():
    rendered = template_render(
        notification_type=NotificationType.SYSTEM_ALERT, context={"title": "<b>Bold</b> & co", "message": "<script>x"}
    )
    assert rendered.title == "<b>Bold</b> & co"
    assert rendered.message == "<script>x"


@pytest.mark.django_db
def test_render_accepts_plain_values_and_lists():
    NotificationTemplate.objects.filter(notification_type=JOB_CREATED).update(is_active=False)
    NotificationTemplateFactory(
        title_template="{{ budget }} {{ job_title }} {{ job_city|default:'none' }}",
        message_template="{% for x in service_type %}{{ x }};{% endfor %}",
        is_active=True,
    )
    rendered = template_render(
        notification_type=JOB_CREATED,
        context={"budget": Decimal("12.50"), "job_title": 3, "job_city": None, "service_type": ("a", 1, True)},
    )
    assert rendered.title == "12.50 3 none"
    assert rendered.message == "a;1;True;"


@pytest.mark.django_db
@pytest.mark.parametrize("value", [object(), len, {"nested": "dict"}, [object()]], ids=["object", "callable", "dict", "list"])
def test_render_refuses_non_plain_values(value):
    with pytest.raises(TypeError):
        template_render(notification_type=JOB_CREATED, context={"job_title": value})


@pytest.mark.django_db
def test_render_refuses_model_instances():
    with pytest.raises(TypeError, match="only str, int, float, Decimal, bool, None"):
        template_render(notification_type=JOB_CREATED, context={"client_name": UserFactory()})


@pytest.mark.django_db
def test_render_truncates_title_and_message():
    rendered = template_render(
        notification_type=NotificationType.SYSTEM_ALERT, context={"title": "t" * 500, "message": "m" * 5000}
    )
    assert len(rendered.title) == TITLE_MAX_LENGTH
    assert len(rendered.message) == MESSAGE_MAX_LENGTH
    assert rendered.title.endswith("…")


def test_preview_renders_sample_data():
    rendered = template_preview(
        notification_type=JOB_CREATED, title_template="Hi {{ client_name }}", message_template="{{ job_city|upper }}"
    )
    assert rendered == RenderedText(title="Hi Anna", message="AMSTERDAM", priority="medium")


def test_preview_validates_first():
    with pytest.raises(ValidationError):
        template_preview(notification_type=JOB_CREATED, title_template="{{ job_title|safe }}", message_template="")


# --- the data migration -----------------------------------------------------------


@pytest.mark.django_db
def test_every_type_has_exactly_one_active_template_after_migrate():
    active = list(NotificationTemplate.objects.filter(is_active=True).values_list("notification_type", flat=True))
    assert sorted(active) == sorted(NotificationType.values)
    default = NotificationTemplate.objects.get(notification_type=JOB_CREATED)
    assert default.name == "Default: Job created"
    assert default.title_template == CATALOG[JOB_CREATED].title


@pytest.mark.django_db
def test_data_migration_is_idempotent_and_keeps_existing_templates():
    migration = importlib.import_module("notifications.migrations.0002_default_templates")
    NotificationTemplate.objects.exclude(notification_type=JOB_CREATED).delete()
    NotificationTemplate.objects.filter(notification_type=JOB_CREATED).update(title_template="Edited by staff")

    migration.install_default_templates(apps, None)
    migration.install_default_templates(apps, None)

    assert NotificationTemplate.objects.count() == len(NotificationType.values)
    assert NotificationTemplate.objects.filter(is_active=True).count() == len(NotificationType.values)
    assert NotificationTemplate.objects.get(notification_type=JOB_CREATED).title_template == "Edited by staff"
