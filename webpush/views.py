"""The service worker script, served from the site's root so its scope is the whole site."""

from functools import cache
from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.http import require_GET

SERVICE_WORKER = Path(__file__).resolve().parent / "static" / "webpush" / "sw.js"


@cache
def _service_worker_source() -> bytes:
    return SERVICE_WORKER.read_bytes()


@require_GET
def service_worker(request):
    response = HttpResponse(_service_worker_source(), content_type="text/javascript; charset=utf-8")
    # Browsers check for a new worker on navigation; no-cache keeps that check honest after a deploy.
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response
