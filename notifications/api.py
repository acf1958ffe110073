"""REST endpoints for a user's own notifications and preferences. Thin: parse, call, serialize."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework import generics, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from jobs.throttles import ScopedWriteRateThrottle
from project.exceptions import NotFound

from . import personal_data, quiet_hours, receipts, selectors, services
from .serializers import (
    AccountDeleteSerializer,
    AccountDeletionSerializer,
    MarkedReadSerializer,
    ReceiptsRecordedSerializer,
    ReceiptsSerializer,
    NotificationGroupSerializer,
    NotificationListFilterSerializer,
    NotificationPreferencesSerializer,
    NotificationSerializer,
    QuietHoursSerializer,
    UnreadCountSerializer,
)

TAGS = ["notifications"]


class KeysetOrPagePagination(PageNumberPagination):
    """`?before=<id>`: the page of rows older than that id (keyset: every page costs the same);
    otherwise `?page=<n>` as before (fine for the first pages). Both bodies carry `next` (the
    older page's URL, always a `?before=` one), `previous` and `results`; page-number bodies
    also carry `count`, and every body carries `next_before`, the id to pass as `before`.
    """

    def paginate_queryset(self, queryset, request, view=None):
        self.keyset = None
        # Groups (grouped=true) page by number only: an entry is not one row with an id.
        self.numbered = isinstance(queryset, selectors.NotificationGroups)
        before = view.filters.get("before") if view is not None else None
        if before is None or self.numbered:
            rows = super().paginate_queryset(queryset, request, view)
            self.next_before = rows[-1].pk if rows and self.page.has_next() and not self.numbered else None
            return rows
        self.request = request
        self.keyset = selectors.notifications_keyset_page(queryset, size=self.get_page_size(request), before=before)
        self.next_before = self.keyset.older_than
        return self.keyset.object_list

    def get_next_link(self):
        if self.numbered:
            return super().get_next_link()
        # Always the keyset link, from a numbered page too: rows arriving meanwhile cannot shift it.
        if self.next_before is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, "before", self.next_before)

    def get_paginated_response(self, data):
        if self.keyset is None:
            response = super().get_paginated_response(data)
            response.data["next_before"] = self.next_before
            return response
        return Response({"next": self.get_next_link(), "previous": None, "next_before": self.next_before, "results": data})

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["next_before"] = {"type": "integer", "nullable": True, "example": 123}
        if "count" in schema.get("required", []):
            schema["required"].remove("count")  # keyset pages have none
        return schema


@extend_schema(tags=TAGS, parameters=[NotificationListFilterSerializer])
class NotificationListView(generics.ListAPIView):
    """The caller's live notifications, latest first (`?before=<id>` for deep pages); with grouped=true, one entry per group."""

    serializer_class = NotificationSerializer
    pagination_class = KeysetOrPagePagination

    def get_queryset(self):
        filters = NotificationListFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        self.filters = filters.validated_data
        listing = selectors.notification_groups_for_user if filters.validated_data["grouped"] else selectors.notifications_for_user
        return listing(
            user=self.request.user,
            unread=filters.validated_data["unread"],
            notification_type=filters.validated_data.get("type"),
            group_key=filters.validated_data.get("group"),
        )

    def get_serializer_class(self):
        grouped = isinstance(getattr(self, "_listing", None), selectors.NotificationGroups)
        return NotificationGroupSerializer if grouped else NotificationSerializer

    def list(self, request, *args, **kwargs):
        self._listing = self.get_queryset()
        page = self.paginate_queryset(self._listing)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class NotificationGroupView(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: NotificationGroupSerializer, 404: OpenApiResponse(description="No live notification of the caller's in it.")},
    )
    def get(self, request, group_key: str):
        group = selectors.notification_group_for_user(user=request.user, group_key=group_key)
        if group is None:
            raise NotFound("No such notification group.")
        return Response(NotificationGroupSerializer(group).data)


class NotificationGroupReadView(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: MarkedReadSerializer, 404: OpenApiResponse(description="No live notification of the caller's in it.")},
    )
    def post(self, request, group_key: str):
        changed = services.notifications_mark_group_read(user=request.user, group_key=group_key)
        return Response({"marked_read": len(changed)})


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
        # Parsed as the receipts door parses it (ReceiptsSerializer documents the shape).
        changed = receipts.notification_receipts_record(user=request.user, **receipts.receipt_acks_parse(request.data))
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
            job_offer_pushes_per_hour=serializer.validated_data.get("job_offer_pushes_per_hour", services.UNCHANGED),
        )
        return Response(self._body(request.user), status=status.HTTP_200_OK)

    @staticmethod
    def _body(user) -> dict:
        return NotificationPreferencesSerializer(
            {
                "muted": selectors.notification_preferences_for(user=user),
                "unmutable": sorted(selectors.UNMUTABLE_TYPES),
                "channels": selectors.notification_channel_preferences_for(user=user),
                "job_offer_pushes_per_hour": selectors.job_offer_push_cap_for(user=user),
                "job_offer_pushes_per_hour_default": settings.JOB_OFFER_PUSHES_PER_HOUR,
            }
        ).data


class QuietHoursView(APIView):
    """The caller's time zone and quiet hours: email and push that are not urgent wait until a window ends."""

    parser_classes = [JSONParser]

    @extend_schema(tags=TAGS, responses=QuietHoursSerializer)
    def get(self, request):
        return Response(self._body(request.user))

    @extend_schema(
        tags=TAGS,
        request=QuietHoursSerializer,
        responses={200: QuietHoursSerializer, 400: OpenApiResponse(description="Bad zone or window; nothing changed.")},
    )
    def put(self, request):
        serializer = QuietHoursSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quiet_hours.quiet_hours_save(user=request.user, schedule=serializer.validated_data["schedule"])
        return Response(self._body(request.user))

    @staticmethod
    def _body(user) -> dict:
        schedule = quiet_hours.quiet_hours_for(user_id=user.pk)
        return QuietHoursSerializer(
            {
                "time_zone": schedule.time_zone,
                "windows": schedule.windows_as_text(),
                "quiet_until": quiet_hours.quiet_hours_until_now(user_id=user.pk),
            }
        ).data


class NotificationExportView(APIView):
    """The caller's notifications (all of them, expired ones too) as a JSON file, streamed in batches."""

    @extend_schema(tags=TAGS, responses={(200, "application/json"): OpenApiResponse(description="A JSON file download.")})
    def get(self, request):
        response = StreamingHttpResponse(
            personal_data.notifications_export_stream(user_id=request.user.pk), content_type="application/json"
        )
        filename = personal_data.notifications_export_filename(user=request.user)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class AccountDeleteView(APIView):
    """Delete the caller's account: deactivated at once (streams and tokens cut), its data removed in the background."""

    parser_classes = [JSONParser]

    @extend_schema(
        tags=["account"],
        request=AccountDeleteSerializer,
        responses={202: AccountDeletionSerializer, 400: OpenApiResponse(description="Wrong password; nothing changed.")},
    )
    def post(self, request):
        serializer = AccountDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        personal_data.account_delete_request(user=request.user, password=serializer.validated_data["password"])
        return Response({"status": "deleting"}, status=status.HTTP_202_ACCEPTED)
