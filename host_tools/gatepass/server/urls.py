from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from . import (language, views, views_console, views_declare, views_isolation, views_people, views_release,
               views_report,
               views_visitor_modes, views_visitors)
from .api import api
from .staffapi import api as staff_api
from .staticview import serve_static

staff = [
    path("", views.board, name="board"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:pk>/ack", views.alert_ack, name="alert_ack"),
    path("events/", views.events, name="events"),
    path("events.csv", views.events_csv, name="events_csv"),
    path("devices/", views.devices, name="devices"),
    path("devices/<str:pk>/command", views.device_command, name="device_command"),
    path("rules/", views.rules, name="rules"),
    path("rules/quarantine/<int:pk>/lift", views.quarantine_lift, name="quarantine_lift"),
    path("rules/visitors", views_visitor_modes.visitor_modes_view, name="visitor_modes"),
    path("passes/", views.passes, name="passes"),
    path("passes/<int:pk>/card", views.pass_card, name="pass_card"),
    path("passes/<int:pk>/revoke", views.pass_revoke, name="pass_revoke"),
    path("isolation/", views_isolation.isolation, name="isolation"),
    path("isolation/<int:pk>/extend", views_isolation.isolation_extend, name="isolation_extend"),
    path("isolation/<int:pk>/release", views_isolation.isolation_release, name="isolation_release"),
    path("isolation/<int:pk>/certificate", views_isolation.isolation_certificate, name="isolation_certificate"),
    path("members/", views.members, name="members"),
    path("audit/", views.audit_log, name="audit"),
    # the console's live parts (views_console.py)
    path("live/alerts", views_console.live_alerts, name="live_alerts"),
    path("occupancy/", views_console.occupancy, name="occupancy"),
    path("figures/", views_report.figures_page, name="figures"),
    path("figures/publish", views_report.figures_publish, name="figures_publish"),
    path("figures.<str:fmt>", views_report.figures_export, name="figures_export"),
    path("report.csv", views_report.report_csv, name="report_csv"),
    path("report.xlsx", views_report.report_xlsx, name="report_xlsx"),
    # firmware releases and rollouts (views_release.py)
    path("releases/", views_release.releases_page, name="releases"),
    path("releases/rollout", views_release.rollout_start, name="rollout_start"),
    path("releases/rollout/<int:pk>/advance", views_release.rollout_advance, name="rollout_advance"),
    path("releases/rollout/<int:pk>/stop", views_release.rollout_stop, name="rollout_stop"),
    # public, no login: the published daily figures (aggregates only) at an unguessable link
    path("public/figures/<str:token>/", views_report.public_figures, name="public_figures"),
    path("public/figures/<str:token>/figures.<str:fmt>", views_report.public_figures_export,
         name="public_figures_export"),
    # self-declaration queue, phone links, visitors (views_declare.py, views_visitors.py)
    path("declarations/", views_declare.declarations, name="declarations"),
    path("declarations/<int:pk>/approve", views_declare.declaration_approve, name="declaration_approve"),
    path("declarations/<int:pk>/reject", views_declare.declaration_reject, name="declaration_reject"),
    path("declarations/poster/", views_declare.declare_poster, name="declare_poster"),
    path("passes/<int:pk>/phone-code", views_declare.pass_phone_code, name="pass_phone_code"),
    path("passes/<int:pk>/card.pdf", views_declare.pass_card_pdf, name="pass_card_pdf"),
    path("visitors/", views_visitors.visitors, name="visitors"),
    path("visitors/<int:pk>/cancel", views_visitors.visitor_cancel, name="visitor_cancel"),
    # people and the roster import (views_people.py)
    path("people/", views_people.people_list, name="people"),
    path("people/import", views_people.roster_import, name="roster_import"),
]

# public phone pages: no account (residents and visitors); throttled, nothing personal
public = [
    path("declare/<str:key>/", views_declare.declare_page, name="declare"),
    path("m/<str:token>/", views_declare.phone_pass, name="phone_pass"),
    path("m/<str:token>/code", views_declare.phone_new_code, name="phone_new_code"),
    path("m/<str:token>/invite", views_visitors.phone_invite, name="phone_invite"),
    path("m/<str:token>/invite/<int:pk>/cancel", views_visitors.phone_invite_cancel, name="phone_invite_cancel"),
    path("v/<str:token>/", views_visitors.visitor_pass, name="visitor_pass"),
]

urlpatterns = [
    path("api/device/v1/", api.urls),
    path("api/staff/v1/", staff_api.urls),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(template_name="gatepass/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", language.set_language, name="set_language"),
    re_path(r"^static/(?P<path>.+)$", serve_static),
    *public,
    path("", include((staff, "gatepass"))),
]
