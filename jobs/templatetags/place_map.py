"""{% place_map_tiles as tiles %}: the map tiles the settings name, for the job form's map."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def place_map_tiles() -> dict:
    return {"url": settings.MAP_TILES_URL, "attribution": settings.MAP_TILES_ATTRIBUTION}
