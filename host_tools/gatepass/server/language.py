"""Which language a staff page is in, and the switch on every page.

Order: the account's saved choice (StaffPreference, set with the switch), else the
browser's Accept-Language, else settings.LANGUAGE_CODE (GATEPASS_LANGUAGE, zh-hans by
default). Before logging in, the switch on the login page keeps its choice in the
session; logging in saves it to the account when the account has none yet.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpResponseRedirect
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

SESSION_KEY = "gatepass_language"
MACHINE_PATHS = ("/static/", "/api/device/")


def supported(code: str | None) -> str | None:
    return code if code in dict(settings.LANGUAGES) else None


def saved_language(user) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    from .models import StaffPreference

    pref = getattr(user, "_gatepass_language", None)
    if pref is None:
        pref = StaffPreference.objects.filter(user=user).values_list("language", flat=True).first() or ""
        user._gatepass_language = pref
    return supported(pref)


def request_language(request) -> str:
    user = getattr(request, "user", None)
    chosen = saved_language(user)
    if chosen is None and not (user is not None and user.is_authenticated):
        chosen = supported(request.session.get(SESSION_KEY)) if hasattr(request, "session") else None
    if chosen:
        return chosen
    # Accept-Language, else LANGUAGE_CODE (no language cookie is ever set)
    return translation.get_language_from_request(request, check_path=False)


class StaffLanguageMiddleware(LocaleMiddleware):
    """LocaleMiddleware with the account's saved choice first (needs request.user)."""

    def process_request(self, request):
        if request.path_info.startswith(MACHINE_PATHS):
            # files and the device API: no account to look up (no database query)
            translation.activate(translation.get_language_from_request(request, check_path=False))
        else:
            translation.activate(request_language(request))
        request.LANGUAGE_CODE = translation.get_language()


@require_POST
def set_language(request):
    """The language switch: saved to the account (or the session before logging in)."""
    from .models import StaffPreference

    code = request.POST.get("language", "")
    if code != "" and supported(code) is None:
        code = ""
    if request.user.is_authenticated:
        StaffPreference.objects.update_or_create(user=request.user, defaults={"language": code})
    else:
        request.session[SESSION_KEY] = code
    nxt = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        nxt = "/"
    return HttpResponseRedirect(nxt)


@receiver(user_logged_in)
def _keep_login_page_choice(sender, request, user, **kwargs):
    code = supported(request.session.get(SESSION_KEY)) if request is not None else None
    if code:
        from .models import StaffPreference

        StaffPreference.objects.get_or_create(user=user, defaults={"language": code})
