"""`{% load money %}` then `{{ amount|money }}`: the one money format (jobs/money.py) in templates."""

from django import template

from jobs.money import format_money

register = template.Library()
register.filter("money", format_money)
