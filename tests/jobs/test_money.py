"""One money format: jobs/money.py, the |money template filter, and the notification texts."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from jobs.money import format_money
from notifications.plans import format_money as notification_money

AMOUNTS = [
    (Decimal("1"), "€1.00"),
    (Decimal("95.5"), "€95.50"),
    (Decimal("1234.50"), "€1,234.50"),
    (Decimal("100000.00"), "€100,000.00"),
]


@pytest.mark.parametrize(("amount", "text"), AMOUNTS)
def test_an_amount_reads_the_same_in_code_and_in_templates(amount, text):
    assert format_money(amount) == text
    assert Template("{% load money %}{{ amount|money }}").render(Context({"amount": amount})) == text


@pytest.mark.parametrize(("amount", "text"), AMOUNTS)
def test_notification_texts_read_money_as_the_pages_do(amount, text):
    # notifications/plans.py still has its own copy (not ours to edit); until it imports
    # jobs.money.format_money, this keeps the two from drifting apart.
    assert notification_money(amount) == text


def test_no_amount_reads_as_nothing():
    assert Template("{% load money %}[{{ amount|money }}]").render(Context({"amount": None})) == "[]"
