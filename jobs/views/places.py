"""GET /places/lookup/: the job form's map asks where an address is, by the same rule as posting."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from ..places import place_resolve

MAX_QUERY_LENGTH = 255


@login_required
@require_GET
def place_lookup(request):
    address = request.GET.get("address", "").strip()[:MAX_QUERY_LENGTH]
    city = request.GET.get("city", "").strip()[:MAX_QUERY_LENGTH]
    try:
        place = place_resolve(address=address, city=city)
    except ValidationError as exc:
        return JsonResponse({"errors": exc.message_dict}, status=400)
    return JsonResponse({"latitude": place.latitude, "longitude": place.longitude, "label": place.label})
