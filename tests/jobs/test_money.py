"""One money format: jobs/money.py, the |money template filter, and the notification texts."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from jobs.money import format_money

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


def test_notification_texts_format_money_with_the_same_function_as_the_pages():
    from notifications import plans

    assert plans.format_money is format_money
