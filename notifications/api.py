"""REST endpoints for a user's own notifications and preferences. Thin: parse, call, serialize."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.throttles import ScopedWriteRateThrottle

from . import receipts, selectors, services
from .serializers import (
    MarkedReadSerializer,
    ReceiptsRecordedSerializer,
    ReceiptsSerializer,
    NotificationListFilterSerializer,
    NotificationPreferencesSerializer,
    NotificationSerializer,
    UnreadCountSerializer,
)

TAGS = ["notifications"]


@extend_schema(tags=TAGS, parameters=[NotificationListFilterSerializer])
class NotificationListView(generics.ListAPIView):
    """The caller's live notifications, latest first."""

    serializer_class = NotificationSerializer

    def get_queryset(self):
        filters = NotificationListFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.notifications_for_user(
            user=self.request.user,
            unread=filters.validated_data["unread"],
            notification_type=filters.validated_data.get("type"),
        )


class NotificationMarkReadView(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: NotificationSerializer, 404: OpenApiResponse(description="Not the caller's notification.")},
    )
    def post(self, request, notification_id: int):
        notification = services.notification_mark_read(user=request.user, notification_id=notification_id)
        return Response(NotificationSerializer(notification).data)


class NotificationMarkAllReadView(APIView):
    @extend_schema(tags=TAGS, request=None, responses=MarkedReadSerializer)
    def post(self, request):
        changed = services.notifications_mark_all_read(user=request.user)
        return Response({"marked_read": changed})


class NotificationReceiptsView(APIView):
    """A page's batched acks: delivered, seen, clicked. Sent with fetch(keepalive) so the CSRF header goes too."""

    parser_classes = [JSONParser]
    throttle_classes = [ScopedWriteRateThrottle]
    throttle_scope = "notification_receipts"

    @extend_schema(
        tags=TAGS,
        request=ReceiptsSerializer,
        responses={
            200: ReceiptsRecordedSerializer,
            400: OpenApiResponse(description="Bad body or too many ids; nothing changed."),
            429: OpenApiResponse(description="Throttled."),
        },
    )
    def post(self, request):
        serializer = ReceiptsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changed = receipts.notification_receipts_record(user=request.user, **serializer.validated_data)
        return Response(ReceiptsRecordedSerializer(changed).data)


class NotificationUnreadCountView(APIView):
    @extend_schema(tags=TAGS, responses=UnreadCountSerializer)
    def get(self, request):
        return Response({"count": selectors.notification_unread_count(user_id=request.user.pk)})


class NotificationPreferencesView(APIView):
    # Booleans are JSON true/false; a form encoding would make every value a string.
    parser_classes = [JSONParser]

    @extend_schema(tags=TAGS, responses=NotificationPreferencesSerializer)
    def get(self, request):
        return Response(self._body(request.user))

    @extend_schema(
        tags=TAGS,
        request=NotificationPreferencesSerializer,
        responses={
            200: NotificationPreferencesSerializer,
            400: OpenApiResponse(description="Bad body; nothing changed."),
        },
    )
    def put(self, request):
        serializer = NotificationPreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.notification_preferences_save(
            user=request.user,
            muted=serializer.validated_data.get("muted"),
            channels=serializer.validated_data.get("channels"),
        )
        return Response(self._body(request.user), status=status.HTTP_200_OK)

    @staticmethod
    def _body(user) -> dict:
        return NotificationPreferencesSerializer(
            {
                "muted": selectors.notification_preferences_for(user=user),
                "unmutable": sorted(selectors.UNMUTABLE_TYPES),
                "channels": selectors.notification_channel_preferences_for(user=user),
            }
        ).data
