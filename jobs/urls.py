from django.contrib.auth import views as auth_views
from django.urls import path

from . import place_views, profile_views, views

app_name = "jobs"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="jobs:login"), name="logout"),
    path("jobs/new/", views.job_create, name="create"),
    path("jobs/mine/", views.my_jobs, name="mine"),
    path("jobs/<int:job_id>/", views.job_detail, name="detail"),
    path("jobs/<int:job_id>/fragments/<slug:name>/", views.job_fragment, name="fragment"),
    path("jobs/<int:job_id>/bids/", views.bid_place, name="bid-place"),
    path("jobs/<int:job_id>/start/", views.job_start, name="start"),
    path("jobs/<int:job_id>/complete/", views.job_complete, name="complete"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="cancel"),
    path("jobs/<int:job_id>/pay/", views.job_pay, name="pay"),
    path("jobs/<int:job_id>/messages/", views.message_send, name="message-send"),
    path("bids/<int:bid_id>/accept/", views.bid_accept, name="bid-accept"),
    path("bids/<int:bid_id>/reject/", views.bid_reject, name="bid-reject"),
    path("bids/<int:bid_id>/withdraw/", views.bid_withdraw, name="bid-withdraw"),
    path("bids/mine/", views.my_bids, name="my-bids"),
    path("board/", views.board, name="board"),
    path("board/fragment/", views.board_fragment, name="board-fragment"),
    path("places/lookup/", place_views.place_lookup, name="place-lookup"),
    path("profile/", profile_views.profile, name="profile"),
    path("profile/days-off/", profile_views.day_off_add, name="day-off-add"),
    path("profile/days-off/remove/", profile_views.day_off_remove, name="day-off-remove"),
]
