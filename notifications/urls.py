from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/read-all/", views.notification_read_all, name="read-all"),
    path("notifications/groups/<str:group_key>/read/", views.notification_group_read, name="group-read"),
    path("notifications/preferences/", views.preferences, name="preferences"),
    path("notifications/preferences/quiet-hours/", views.quiet_hours_update, name="quiet-hours"),
    path("notifications/export/", views.notifications_export, name="export"),
    path("account/delete/", views.account_delete, name="account-delete"),
    path("notifications/<int:notification_id>/read/", views.notification_read, name="read"),
    path("notifications/<int:notification_id>/open/", views.notification_open, name="open"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
