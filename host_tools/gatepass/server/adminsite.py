"""The Django admin for superusers only: it has every table of every community, so it is
the cross-community role's tool (community admins manage their own community on the
staff pages). A logged-in account without that right gets 403, not a login form."""
from __future__ import annotations

from functools import update_wrapper

from django.contrib import admin
from django.core.exceptions import PermissionDenied


class GatepassAdminSite(admin.AdminSite):
    site_header = "gatepass administration"
    site_title = "gatepass admin"

    def has_permission(self, request):
        u = request.user
        return u.is_active and u.is_staff and u.is_superuser

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied("the admin is for superusers")
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)

    def login(self, request, extra_context=None):
        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied("the admin is for superusers")
        return super().login(request, extra_context)
