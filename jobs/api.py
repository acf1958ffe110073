"""The marketplace REST API.

Each view is thin: validate the input with a serializer, look the object up among
those the user may see (404 otherwise, never 403, so ids leak nothing), call one
service or selector with keyword arguments, render the result. Services raise
project.exceptions errors or Django ValidationError; project/api_errors.py turns them
into the JSON error shape.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.generics import GenericAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.response import Response
from rest_framework.views import APIView

from project.exceptions import NotFound

from . import selectors, services
from .models import CleaningJob, JobBid, PaymentStatus
from .serializers import (
    BidPlaceSerializer,
    BidSerializer,
    ErrorSerializer,
    JobCreateSerializer,
    JobFilterSerializer,
    JobSerializer,
    LoginSerializer,
    MessageSendSerializer,
    MessageSerializer,
    PaymentCreateSerializer,
    PaymentDeclinedSerializer,
    PaymentSerializer,
    TokenSerializer,
)
from .throttles import ScopedWriteRateThrottle

_ERROR_MEANINGS = {
    400: "Invalid input: field errors in `errors`.",
    403: "Not allowed for this user's role or relation to the object.",
    404: "No such object among those this user may see.",
    409: "The object's state does not allow this action.",
    429: "Too many requests (or failed logins): wait `Retry-After` seconds.",
}


def errors(*codes: int) -> dict:
    """OpenAPI responses for the given error statuses, all in the shared error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_MEANINGS[code]) for code in codes}


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def visible_job(request, job_id: int) -> CleaningJob:
    try:
        return selectors.jobs_visible_to(user=request.user).get(pk=job_id)
    except CleaningJob.DoesNotExist:
        raise NotFound("Job not found.") from None


def visible_bid(request, bid_id: int) -> JobBid:
    try:
        return selectors.bids_visible_to(user=request.user).get(pk=bid_id)
    except JobBid.DoesNotExist:
        raise NotFound("Bid not found.") from None


class ViewOnlyMetadata(SimpleMetadata):
    """OPTIONS names and describes the view; request shapes are in the OpenAPI schema.

    SimpleMetadata would describe the POST body from `serializer_class`, which
    these views do not have (each method picks its own serializer): a 500.
    """

    def determine_actions(self, request, view):
        return {}


class PaginatedListView(GenericAPIView):
    # GenericAPIView only for its pagination: querysets come from selectors.
    metadata_class = ViewOnlyMetadata

    def paginated(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


# --- auth -----------------------------------------------------------------------


class LoginView(ObtainAuthToken):
    """Exchange a username and password for an API token (send it as `Authorization: Token <key>`)."""

    # Credentials are the only authentication here; a stale session must not
    # trigger a CSRF failure on login.
    authentication_classes = []
    throttle_classes = [ScopedWriteRateThrottle]
    throttle_scope = "login"
    serializer_class = LoginSerializer

    @extend_schema(responses={200: TokenSerializer, **errors(400, 429)})
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


# --- jobs -----------------------------------------------------------------------


class JobListCreateView(PaginatedListView):
    """Jobs: list the ones you may see, or post a new one."""

    throttle_classes = [ScopedWriteRateThrottle]
    throttle_scope = "job_create"

    @extend_schema(
        summary="List jobs",
        description="A client's own jobs; for a cleaner, the open jobs they are eligible for "
        "plus those they bid on or hold.",
        parameters=[JobFilterSerializer],
        responses={200: JobSerializer(many=True), **errors(400)},
    )
    def get(self, request):
        filters = validated(JobFilterSerializer, request.query_params)
        jobs = selectors.jobs_visible_to(user=request.user).filter(**filters)
        return self.paginated(jobs, JobSerializer)

    @extend_schema(
        summary="Post a job (clients only)",
        request=JobCreateSerializer,
        responses={201: JobSerializer, **errors(400, 403)},
    )
    def post(self, request):
        job = services.job_create(client=request.user, **validated(JobCreateSerializer, request.data))
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetailView(APIView):
    @extend_schema(summary="Get a job", responses={200: JobSerializer, **errors(404)})
    def get(self, request, job_id: int):
        return Response(JobSerializer(visible_job(request, job_id)).data)


class JobTransitionView(APIView):
    """POST without a body: one state change of a job, answered with the job."""

    def transition(self, *, job: CleaningJob, user) -> CleaningJob:
        raise NotImplementedError

    @extend_schema(request=None, responses={200: JobSerializer, **errors(403, 404, 409)})
    def post(self, request, job_id: int):
        job = self.transition(job=visible_job(request, job_id), user=request.user)
        return Response(JobSerializer(job).data)


class JobStartView(JobTransitionView):
    """The assigned cleaner starts the job (assigned -> in progress)."""

    def transition(self, *, job, user):
        return services.job_start(job=job, cleaner=user)


class JobCompleteView(JobTransitionView):
    """The assigned cleaner marks the job done (in progress -> completed)."""

    def transition(self, *, job, user):
        return services.job_complete(job=job, cleaner=user)


class JobCancelView(JobTransitionView):
    """The client cancels an open or assigned job; pending bids are rejected."""

    def transition(self, *, job, user):
        return services.job_cancel(job=job, client=user)


# --- bids -----------------------------------------------------------------------


class JobBidListCreateView(PaginatedListView):
    """Bids on one job."""

    throttle_classes = [ScopedWriteRateThrottle]
    throttle_scope = "bid_place"

    @extend_schema(
        summary="List a job's bids",
        description="The job's client sees every bid; a cleaner sees only their own.",
        responses={200: BidSerializer(many=True), **errors(404)},
    )
    def get(self, request, job_id: int):
        job = visible_job(request, job_id)
        return self.paginated(selectors.job_bids_visible_to(job=job, user=request.user), BidSerializer)

    @extend_schema(
        summary="Bid on a job (eligible cleaners only)",
        request=BidPlaceSerializer,
        responses={201: BidSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, job_id: int):
        # The service finds, locks and checks the job in one query; an invisible job is a 404 there.
        bid = services.bid_place_on_visible_job(
            job_id=job_id, cleaner=request.user, **validated(BidPlaceSerializer, request.data)
        )
        return Response(BidSerializer(bid).data, status=status.HTTP_201_CREATED)


class BidTransitionView(APIView):
    """POST without a body: one state change of a bid, answered with the bid."""

    def transition(self, *, bid: JobBid, user) -> JobBid:
        raise NotImplementedError

    @extend_schema(request=None, responses={200: BidSerializer, **errors(403, 404, 409)})
    def post(self, request, bid_id: int):
        bid = self.transition(bid=visible_bid(request, bid_id), user=request.user)
        return Response(BidSerializer(bid).data)


class BidAcceptView(BidTransitionView):
    """The client accepts a pending bid: the job is assigned and every other pending bid rejected."""

    def transition(self, *, bid, user):
        return services.bid_accept(bid=bid, client=user)


class BidRejectView(BidTransitionView):
    """The client rejects a pending bid."""

    def transition(self, *, bid, user):
        return services.bid_reject(bid=bid, client=user)


class BidWithdrawView(BidTransitionView):
    """The cleaner withdraws their pending bid."""

    def transition(self, *, bid, user):
        return services.bid_withdraw(bid=bid, cleaner=user)


# --- payments -------------------------------------------------------------------


class JobPaymentListCreateView(PaginatedListView):
    """Payments for one job."""

    @extend_schema(
        summary="List a job's payments",
        description="Payments the user made or received for this job.",
        responses={200: PaymentSerializer(many=True), **errors(404)},
    )
    def get(self, request, job_id: int):
        job = visible_job(request, job_id)
        return self.paginated(selectors.job_payments_visible_to(job=job, user=request.user), PaymentSerializer)

    @extend_schema(
        summary="Pay for a completed job (its client only)",
        request=PaymentCreateSerializer,
        responses={
            201: PaymentSerializer,
            402: OpenApiResponse(
                PaymentDeclinedSerializer,
                description="The charge was declined; the failed payment is stored and the client may retry.",
            ),
            **errors(400, 403, 404, 409),
        },
    )
    def post(self, request, job_id: int):
        job = visible_job(request, job_id)
        payment = services.payment_create(
            job=job, payer=request.user, **validated(PaymentCreateSerializer, request.data)
        )
        if payment.status == PaymentStatus.FAILED:
            body = {
                "detail": "The payment was declined and nothing was charged. You can try again.",
                "code": "payment_declined",
                "payment": PaymentSerializer(payment).data,
            }
            return Response(body, status=status.HTTP_402_PAYMENT_REQUIRED)
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


# --- messages -------------------------------------------------------------------


class JobMessageListCreateView(PaginatedListView):
    """Messages between a job's client and its bidders."""

    throttle_classes = [ScopedWriteRateThrottle]
    throttle_scope = "message_send"

    @extend_schema(
        summary="List a job's messages",
        description="Messages on this job that the user sent or received, oldest first.",
        responses={200: MessageSerializer(many=True), **errors(404)},
    )
    def get(self, request, job_id: int):
        job = visible_job(request, job_id)
        return self.paginated(selectors.job_messages_visible_to(job=job, user=request.user), MessageSerializer)

    @extend_schema(
        summary="Send a message about a job",
        request=MessageSendSerializer,
        responses={201: MessageSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, job_id: int):
        job = visible_job(request, job_id)
        message = services.message_send(job=job, sender=request.user, **validated(MessageSendSerializer, request.data))
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
