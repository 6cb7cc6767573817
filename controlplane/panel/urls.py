from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from controlplane.panel import views

app_name = "panel"

urlpatterns = [
    path("", views.wall, name="wall"),
    path("login/", auth_views.LoginView.as_view(template_name="panel/login.html", redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("alarms/", views.alarm_list, name="alarms"),
    path("alarms/<int:pk>/", views.alarm_detail, name="alarm"),
    path("alarms/<int:pk>/acknowledge/", views.alarm_acknowledge, name="alarm-acknowledge"),
    path("alarms/<int:pk>/close/", views.alarm_close, name="alarm-close"),
    path("cameras/<int:pk>/zones/", views.zone_editor, name="zones"),
    path("cameras/<int:pk>/zones/lock/", views.zone_lock, name="zones-lock"),
]
