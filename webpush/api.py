"""REST endpoint for the caller's push subscriptions (one per browser). Thin: parse, call, serialize."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.throttles import ScopedWriteRateThrottle
from project.exceptions import InvalidInput

from . import selectors, services
from .login_sessions import session_endpoint_drop, session_endpoint_remember
from .serializers import (
    PushEndpointSerializer,
    PushSubscriptionInputSerializer,
    PushSubscriptionSerializer,
    PushSubscriptionsSerializer,
)
from .vapid import webpush_enabled

TAGS = ["push"]
# A browser's subscription JSON is about 400 bytes (endpoints up to 1000 characters).
MAX_BODY_BYTES = 4096


class PushSubscriptionsView(APIView):
    """GET the caller's browsers and the server's public key; POST this browser's subscription; DELETE it."""

    parser_classes = [JSONParser]
    throttle_classes = [ScopedWriteRateThrottle]
    throttle_scope = "push_subscriptions"

    @extend_schema(tags=TAGS, responses=PushSubscriptionsSerializer)
    def get(self, request):
        body = {
            "enabled": webpush_enabled(),
            "public_key": settings.VAPID_PUBLIC_KEY or None,
            "subscriptions": selectors.push_subscriptions_of(user=request.user),
        }
        return Response(PushSubscriptionsSerializer(body).data)

    @extend_schema(
        tags=TAGS,
        request=PushSubscriptionInputSerializer,
        responses={
            201: PushSubscriptionSerializer,
            200: OpenApiResponse(PushSubscriptionSerializer, description="Already stored: keys refreshed."),
            400: OpenApiResponse(description="Bad endpoint, keys or body; nothing stored."),
            429: OpenApiResponse(description="Throttled."),
            503: OpenApiResponse(description="Web Push is not set up on this server."),
        },
    )
    def post(self, request):
        serializer = PushSubscriptionInputSerializer(data=self._small_body(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription, created = services.push_subscription_save(
            user=request.user, endpoint=data["endpoint"], p256dh=data["keys"]["p256dh"], auth=data["keys"]["auth"],
            user_agent=request.headers.get("User-Agent", ""),
        )
        session_endpoint_remember(request, subscription.endpoint)
        return Response(PushSubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        tags=TAGS,
        request=PushEndpointSerializer,
        responses={204: None, 404: OpenApiResponse(description="The caller has no subscription with that endpoint.")},
    )
    def delete(self, request):
        serializer = PushEndpointSerializer(data=self._small_body(request))
        serializer.is_valid(raise_exception=True)
        services.push_subscription_delete(user=request.user, endpoint=serializer.validated_data["endpoint"])
        session_endpoint_drop(request, serializer.validated_data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _small_body(request):
        if len(request.body) > MAX_BODY_BYTES:
            raise InvalidInput(f"A push subscription is at most {MAX_BODY_BYTES} bytes.")
        return request.data
