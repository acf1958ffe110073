"""How an amount of money reads, everywhere: pages, flash messages and notification texts."""

from decimal import Decimal

CURRENCY_SIGN = "€"


def format_money(amount: Decimal | None) -> str:
    """€1,234.50: the sign, thousands grouped, always two decimals. None (no amount) reads as ""."""
    if amount is None:
        return ""
    return f"{CURRENCY_SIGN}{amount:,.2f}"
