"""Refuse API request bodies that are too large before any view, parser or CSRF check runs.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when a view reads the body (and
then answers with an HTML 400); endpoints that take no body would accept any size.
For /api/ paths a declared Content-Length over the limit is answered here with
the API's JSON error shape and 413, whatever the endpoint. A body sent without a
Content-Length is never parsed by DRF, so it cannot sneak past either.
"""

from django.conf import settings
from django.http import JsonResponse

from project.api_errors import request_too_large_body

API_PREFIX = "/api/"


class ApiBodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and request.path.startswith(API_PREFIX):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                return JsonResponse(request_too_large_body(), status=413)
        return self.get_response(request)
