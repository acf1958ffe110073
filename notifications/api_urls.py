from django.urls import path

from . import api

app_name = "notifications-api"

urlpatterns = [
    path("notifications/", api.NotificationListView.as_view(), name="list"),
    path("notifications/<int:notification_id>/read/", api.NotificationMarkReadView.as_view(), name="read"),
    path("notifications/groups/<str:group_key>/", api.NotificationGroupView.as_view(), name="group"),
    path("notifications/groups/<str:group_key>/read/", api.NotificationGroupReadView.as_view(), name="group-read"),
    path("notifications/read-all/", api.NotificationMarkAllReadView.as_view(), name="read-all"),
    path("notifications/unread-count/", api.NotificationUnreadCountView.as_view(), name="unread-count"),
    path("notifications/receipts/", api.NotificationReceiptsView.as_view(), name="receipts"),
    path("notifications/preferences/", api.NotificationPreferencesView.as_view(), name="preferences"),
    path("notifications/quiet-hours/", api.QuietHoursView.as_view(), name="quiet-hours"),
    path("notifications/export/", api.NotificationExportView.as_view(), name="export"),
    path("account/delete/", api.AccountDeleteView.as_view(), name="account-delete"),
]
