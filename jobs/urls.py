from django.contrib.auth import views as auth_views
from django.urls import path

from .views import account, cleaner, client, job_actions, job_page, places, profile

app_name = "jobs"

urlpatterns = [
    path("", account.home, name="home"),
    path("login/", account.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="jobs:login"), name="logout"),
    path("jobs/new/", client.job_create, name="create"),
    path("jobs/mine/", client.my_jobs, name="mine"),
    path("jobs/<int:job_id>/", job_page.job_detail, name="detail"),
    path("jobs/<int:job_id>/fragments/<slug:name>/", job_page.job_fragment, name="fragment"),
    path("jobs/<int:job_id>/bids/", job_actions.bid_place, name="bid-place"),
    path("jobs/<int:job_id>/start/", job_actions.job_start, name="start"),
    path("jobs/<int:job_id>/complete/", job_actions.job_complete, name="complete"),
    path("jobs/<int:job_id>/cancel/", job_actions.job_cancel, name="cancel"),
    path("jobs/<int:job_id>/pay/", job_actions.job_pay, name="pay"),
    path("jobs/<int:job_id>/messages/", job_actions.message_send, name="message-send"),
    path("bids/<int:bid_id>/accept/", job_actions.bid_accept, name="bid-accept"),
    path("bids/<int:bid_id>/reject/", job_actions.bid_reject, name="bid-reject"),
    path("bids/<int:bid_id>/withdraw/", job_actions.bid_withdraw, name="bid-withdraw"),
    path("bids/mine/", cleaner.my_bids, name="my-bids"),
    path("board/", cleaner.board, name="board"),
    path("board/fragment/", cleaner.board_fragment, name="board-fragment"),
    path("places/lookup/", places.place_lookup, name="place-lookup"),
    path("profile/", profile.profile, name="profile"),
    path("profile/days-off/", profile.day_off_add, name="day-off-add"),
    path("profile/days-off/remove/", profile.day_off_remove, name="day-off-remove"),
]
