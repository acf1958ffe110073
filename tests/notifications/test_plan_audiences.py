"""The audiences events name by id (plans.NamedUsers): the users the ORM's query would give, from a
statement compiled once per type and number of ids (jobs/compiled.py)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import plans
from notifications.catalog import NotificationType
from notifications.models import NotificationPreference
from notifications.selectors import recipients_not_muting
from tests.factories import ClientFactory, UserFactory

pytestmark = pytest.mark.django_db


def _orm(ids, notification_type):
    return recipients_not_muting(plans._users(*ids), notification_type=notification_type).order_by("pk").values_list("pk", flat=True)


def test_the_named_audience_leaves_out_who_muted_the_type_or_is_inactive_as_the_orm_does():
    active, muted, inactive, muted_other_type = ClientFactory(), ClientFactory(), ClientFactory(is_active=False), ClientFactory()
    NotificationPreference.objects.create(user=muted, notification_type=NotificationType.REMINDER, is_muted=True)
    NotificationPreference.objects.create(user=muted_other_type, notification_type=NotificationType.BID_RECEIVED, is_muted=True)
    everyone = (active.pk, muted.pk, inactive.pk, muted_other_type.pk)
    for ids in [everyone, (muted.pk, active.pk), (inactive.pk,), (active.pk,), (muted_other_type.pk, 10**9)]:
        audience = plans.NamedUsers(ids=ids, notification_type=NotificationType.REMINDER)
        assert plans.audience_ids(audience) == list(_orm(ids, NotificationType.REMINDER)), ids
    assert plans.audience_ids(plans.NamedUsers(ids=everyone, notification_type=NotificationType.REMINDER)) == sorted(
        [active.pk, muted_other_type.pk]
    )


def test_the_sent_statement_is_the_one_the_orm_compiles():
    users = UserFactory.create_batch(2)
    ids = tuple(user.pk for user in users)
    for notification_type in (NotificationType.BID_RECEIVED, NotificationType.SYSTEM_ALERT):  # unmutable: no mute check
        with CaptureQueriesContext(connection) as orm:
            expected = list(_orm(ids, notification_type))
        with CaptureQueriesContext(connection) as sent:
            got = plans.NamedUsers(ids=ids, notification_type=notification_type).recipient_ids()
        assert got == expected == sorted(ids)
        assert [q["sql"] for q in sent.captured_queries] == [q["sql"] for q in orm.captured_queries]


def test_no_one_named_is_no_audience_and_no_query():
    with CaptureQueriesContext(connection) as queries:
        assert plans.audience_ids(plans.NamedUsers(ids=())) == []
    assert queries.captured_queries == []


def test_delivery_plan_for_applies_the_event_s_type_to_a_named_audience(monkeypatch):
    client = ClientFactory()
    NotificationPreference.objects.create(user=client, notification_type=NotificationType.PAYMENT_RECEIVED, is_muted=True)
    content = plans.Content(context={}, action_url="/")
    monkeypatch.setitem(
        plans.PLAN_BUILDERS, NotificationType.PAYMENT_RECEIVED, lambda payload: plans.DeliveryPlan(plans._named(client.pk, None), content)
    )
    plan = plans.delivery_plan_for(event_type=NotificationType.PAYMENT_RECEIVED, payload={})
    assert plan.audience == plans.NamedUsers(ids=(client.pk,), notification_type=NotificationType.PAYMENT_RECEIVED)
    assert plans.audience_ids(plan.audience) == []
