"""Input limits read from the model fields, so forms and serializers never restate them.

The model field is where a limit is stated (and what the database and the services'
full_clean enforce); a page form or an API serializer spreads these into its own field:
`forms.CharField(**length_limit(JobBid, "message"))`.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def length_limit(model: type[models.Model], name: str) -> dict:
    """{"max_length": n} of a CharField or TextField."""
    return {"max_length": model._meta.get_field(name).max_length}


def number_limits(model: type[models.Model], name: str) -> dict:
    """min_value/max_value from the field's validators; max_digits/decimal_places of a DecimalField."""
    field = model._meta.get_field(name)
    limits = {}
    for validator in field.validators:
        if isinstance(validator, MinValueValidator):
            limits["min_value"] = validator.limit_value
        elif isinstance(validator, MaxValueValidator):
            limits["max_value"] = validator.limit_value
    if isinstance(field, models.DecimalField):
        limits |= {"max_digits": field.max_digits, "decimal_places": field.decimal_places}
    return limits
