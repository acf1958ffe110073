from django.urls import path

from . import api

app_name = "jobs-api"

urlpatterns = [
    path("auth/token/", api.LoginView.as_view(), name="token"),
    path("jobs/", api.JobListCreateView.as_view(), name="job-list"),
    path("jobs/<int:job_id>/", api.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/start/", api.JobStartView.as_view(), name="job-start"),
    path("jobs/<int:job_id>/complete/", api.JobCompleteView.as_view(), name="job-complete"),
    path("jobs/<int:job_id>/cancel/", api.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/bids/", api.JobBidListCreateView.as_view(), name="job-bids"),
    path("jobs/<int:job_id>/payments/", api.JobPaymentListCreateView.as_view(), name="job-payments"),
    path("jobs/<int:job_id>/messages/", api.JobMessageListCreateView.as_view(), name="job-messages"),
    path("bids/<int:bid_id>/accept/", api.BidAcceptView.as_view(), name="bid-accept"),
    path("bids/<int:bid_id>/reject/", api.BidRejectView.as_view(), name="bid-reject"),
    path("bids/<int:bid_id>/withdraw/", api.BidWithdrawView.as_view(), name="bid-withdraw"),
]
