"""A set of choices stored as an integer bit mask.

Each choice owns one bit (its position in `choices`), so "does the set contain X"
is a single bitwise AND in SQL on PostgreSQL and SQLite alike, with no join.
"""

from collections.abc import Iterable

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.functional import cached_property


class ChoiceSetFormField(forms.TypedMultipleChoiceField):
    """Checkboxes; the model's value is a (frozen)set, which the widget only reads as a list."""

    def prepare_value(self, value):
        if isinstance(value, (set, frozenset)):
            return sorted(value)
        return value


class ChoiceSetField(models.BigIntegerField):
    description = "A set of choices, stored as a bit mask"

    def __init__(self, *args, choices=None, **kwargs):
        if choices is None:
            raise TypeError("ChoiceSetField needs choices")
        self.set_choices = list(choices)
        kwargs.setdefault("default", frozenset)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["choices"] = self.set_choices
        if kwargs.get("default") is frozenset:
            del kwargs["default"]
        return name, path, args, kwargs

    # The parent's choices machinery would validate the integer against the choices.
    def _check_choices(self):
        return []

    @property
    def flatchoices(self):
        return []

    def get_choices(self, *args, **kwargs):
        return []

    @cached_property
    def validators(self):
        # Not BigIntegerField's range validators: they would compare the set with an int.
        return [*self.default_validators, *self._validators]

    @property
    def values(self) -> list[str]:
        return [value for value, _label in self.set_choices]

    def bit(self, value: str) -> int:
        try:
            return 1 << self.values.index(value)
        except ValueError:
            raise ValidationError(f"{value!r} is not one of {', '.join(self.values)}.") from None

    def mask(self, values: Iterable[str]) -> int:
        mask = 0
        for value in values:
            mask |= self.bit(value)
        return mask

    def from_mask(self, mask: int) -> frozenset[str]:
        return frozenset(v for i, v in enumerate(self.values) if mask & (1 << i))

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return self.from_mask(value)

    def to_python(self, value):
        if value is None or isinstance(value, frozenset):
            return value
        if isinstance(value, int):
            return self.from_mask(value)
        if isinstance(value, str):
            value = [part for part in value.split(",") if part]
        return frozenset(self.from_mask(self.mask(value)))

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, int):
            return value
        return self.mask(value)

    def validate(self, value, model_instance):
        # Unknown values already fail in to_python/mask; an empty set is allowed.
        if value is None and not self.null:
            raise ValidationError(self.error_messages["null"], code="null")

    def value_to_string(self, obj):
        return ",".join(sorted(self.value_from_object(obj) or ()))

    def formfield(self, **kwargs):
        return ChoiceSetFormField(
            choices=self.set_choices,
            required=not self.blank,
            widget=forms.CheckboxSelectMultiple,
            coerce=str,
            **{k: v for k, v in kwargs.items() if k in {"label", "help_text"}},
        )
