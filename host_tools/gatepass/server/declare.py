"""Self-declaration, phone pass links with one-time codes, and visitor invitations: the
services behind views_declare.py and views_visitors.py (docs/declare.md).

Phone links and codes (the scheme):
- every phone link is /m/<token>/ (a resident's pass) or /v/<token>/ (a visitor's pass);
  the token is 128 random bits (22 characters), only its SHA-256 is stored
  (models.PhoneAccess), so a database copy gives nobody a working link;
- a resident link shows the pass only in a browser session that the link was opened in
  with a ONE-TIME CODE (8 digits, stored as a password hash, single use, expires after
  CODE_DAYS), or in the session that made the declaration. A code is shown once: to
  staff when they approve (or give a new code), or to the resident inside an open
  session ("a code for another phone"). MAX_FAILURES wrong codes lock the link until
  staff give a new code; every address is throttled too;
- a visitor link is the visitor's pass itself (short-lived, one entry and one exit, no
  personal data), so it opens without a code.

Nothing personal goes into a pass or onto a phone page: the QR is the signed GP1 pass
(community, role, unit, validity, pass id); names and phones stay in Person and
Declaration rows for staff.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import unicodedata

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..mp.fw import roles as fw_roles
from . import bundlesvc
from .models import (DECL_APPROVED, DECL_PENDING, DECL_REJECTED, AccessCode, Community, Declaration, DeclareLink,
                     Pass, Person, PhoneAccess, Unit, VisitorInvite)

# role code of visitors (firmware/app/roles.py VISITOR, append-only; 7 by the shared decision)
VISITOR = getattr(fw_roles, "VISITOR", 7)
CODE_DIGITS = 8
CODE_DAYS = 14  # a code not used within this many days expires
MAX_FAILURES = 5  # wrong codes for one link before staff must give a new code
SESSION_KEY = "gatepass_phone"  # {token sha256: unix expiry} of the links opened in this session
SESSION_DAYS = 14  # an opened link stays open in its browser this long (within the session's life)
MAX_VISIT_HOURS = 12
DEFAULT_VISIT_HOURS = 2
MAX_START_DAYS = 7  # an invitation may start at most this far ahead
RESIDENT_INVITES_PER_DAY = 5
DEFAULT_DAYS = 30


class DeclareError(ValueError):
    """A staff action that cannot be done (shown to staff as is)."""


# ------------------------------------------------------------------ tokens and codes


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(community: Community, kind: str = PhoneAccess.KIND_RESIDENT, pass_obj: Pass | None = None
             ) -> tuple[PhoneAccess, str]:
    token = secrets.token_urlsafe(16)
    link = PhoneAccess.objects.create(community=community, kind=kind, token_hash=token_hash(token), pass_obj=pass_obj)
    return link, token


def find_link(token: str, kind: str) -> PhoneAccess | None:
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", token or ""):
        return None
    return PhoneAccess.objects.select_related("community", "pass_obj").filter(
        token_hash=token_hash(token), kind=kind).first()


def format_code(code: str) -> str:
    return code[:4] + " " + code[4:]


def new_code(link: PhoneAccess, made_by: str) -> str:
    """A fresh one-time code for a link (earlier unused codes stay valid until they
    expire); unlocks a link locked by wrong codes. Returns the code (shown once)."""
    code = "%0*d" % (CODE_DIGITS, secrets.randbelow(10 ** CODE_DIGITS))
    now = timezone.now()
    AccessCode.objects.create(link=link, code_hash=make_password(code), expires_at=now + dt.timedelta(days=CODE_DAYS),
                              made_by=made_by[:150])
    if link.locked_at is not None or link.failures:
        link.locked_at = None
        link.failures = 0
        link.save(update_fields=["locked_at", "failures"])
    return code


def use_code(link: PhoneAccess, code: str) -> bool:
    """True when `code` is an unused, unexpired code of the link (it is used up now).
    A wrong code counts towards the link's lock."""
    code = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", code or ""))
    if link.locked_at is not None:
        return False
    now = timezone.now()
    if re.fullmatch(r"\d{%d}" % CODE_DIGITS, code):
        for ac in AccessCode.objects.filter(link=link, used_at__isnull=True, expires_at__gt=now):
            if check_password(code, ac.code_hash):
                # single use even when two requests race: only one update finds it unused
                if AccessCode.objects.filter(pk=ac.pk, used_at__isnull=True).update(used_at=now):
                    if link.failures:
                        PhoneAccess.objects.filter(pk=link.pk).update(failures=0)
                    return True
    link.failures += 1
    if link.failures >= MAX_FAILURES:
        link.locked_at = now
    link.save(update_fields=["failures", "locked_at"])
    return False


def open_in_session(session, link: PhoneAccess) -> None:
    opened = dict(session.get(SESSION_KEY) or {})
    now = int(timezone.now().timestamp())
    opened = {k: v for k, v in opened.items() if v > now}
    opened[link.token_hash] = now + SESSION_DAYS * 86400
    session[SESSION_KEY] = opened


def is_open(session, link: PhoneAccess) -> bool:
    exp = (session.get(SESSION_KEY) or {}).get(link.token_hash)
    return exp is not None and exp > int(timezone.now().timestamp())


# ------------------------------------------------------------------ declarations


def declare_link(community: Community) -> DeclareLink:
    link = DeclareLink.objects.filter(community=community).first()
    if link is None:
        link, _created = DeclareLink.objects.get_or_create(community=community,
                                                    defaults={"key": secrets.token_urlsafe(12)})
    return link


def rotate_declare_link(community: Community) -> DeclareLink:
    link = declare_link(community)
    link.key = secrets.token_urlsafe(12)
    link.created_at = timezone.now()
    link.save(update_fields=["key", "created_at"])
    return link


def norm_name(name: str) -> str:
    """Names compared as people write them: width forms folded, spaces and dots gone."""
    return re.sub(r"[\s.·•]", "", unicodedata.normalize("NFKC", name or "")).casefold()


def norm_phone(phone: str) -> str:
    """Digits only, a leading +86 / 0086 dropped (mainland numbers as 11 digits)."""
    d = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    if len(d) == 13 and d.startswith("86"):
        d = d[2:]
    elif len(d) == 15 and d.startswith("0086"):
        d = d[4:]
    return d


def submit(community: Community, name: str, phone: str, unit: tuple[int, int, int], role: int, addr: str
           ) -> tuple[Declaration, str]:
    """Store a declaration and its phone link; returns (declaration, link token)."""
    with transaction.atomic():
        link, token = new_link(community)
        d = Declaration.objects.create(community=community, name=name.strip(), phone=phone.strip(),
                                       building=unit[0], entrance=unit[1], room=unit[2], role=role,
                                       remote_addr=addr[:64], link=link)
    return d, token


MATCH_FULL, MATCH_NAME, MATCH_PHONE, MATCH_UNIT, MATCH_NONE = "full", "name", "phone", "unit", "none"
MATCH_RANK = {MATCH_FULL: 4, MATCH_NAME: 3, MATCH_PHONE: 2, MATCH_UNIT: 1, MATCH_NONE: 0}


def roster_match(d: Declaration) -> dict:
    """How a declaration matches the roster (staff only): quality (full: name and phone
    of a person of the unit; name; phone; unit: the unit is on the roster but nobody
    of that name or phone; none: the unit is not on the roster), the candidates of the
    unit (person, name_ok, phone_ok), people of OTHER units with the same phone, and the
    valid passes the best candidate already holds."""
    unit = Unit.objects.filter(community_id=d.community_id, building=d.building, entrance=d.entrance,
                               room=d.room).first()
    n, ph = norm_name(d.name), norm_phone(d.phone)
    cands = []
    if unit is not None:
        for p in Person.objects.filter(community_id=d.community_id, unit=unit):
            name_ok = bool(n) and norm_name(p.name) == n
            phone_ok = bool(ph) and norm_phone(p.phone) == ph
            cands.append({"person": p, "name_ok": name_ok, "phone_ok": phone_ok})
    cands.sort(key=lambda c: (not (c["name_ok"] and c["phone_ok"]), not c["name_ok"], not c["phone_ok"],
                              c["person"].pk))
    quality = MATCH_NONE if unit is None else MATCH_UNIT
    best = None
    if cands and (cands[0]["name_ok"] or cands[0]["phone_ok"]):
        best = cands[0]
        quality = MATCH_FULL if best["name_ok"] and best["phone_ok"] else MATCH_NAME if best["name_ok"] \
            else MATCH_PHONE
    elsewhere = []
    if ph:
        for p in Person.objects.filter(community_id=d.community_id).exclude(unit=unit).exclude(phone="") \
                .select_related("unit"):
            if norm_phone(p.phone) == ph:
                elsewhere.append(p)
    now = timezone.now()
    held = list(Pass.objects.filter(person=best["person"], revoked=False, exp__gt=now)) if best else []
    return {"quality": quality, "rank": MATCH_RANK[quality], "unit": unit,
            "candidates": [c for c in cands if c["name_ok"] or c["phone_ok"]],
            "best": best["person"] if best else None, "elsewhere": elsewhere, "held": held}


def issue_signed(c: Community, person: Person | None, role: int, unit: tuple[int, int, int], dirs: int,
                 nbf: int, exp: int, label: str = "") -> Pass:
    """Sign a pass with the community's issuer key held by this server and store it
    (gatepass.issuing.passes does the signing: the same code as the CLI)."""
    from ..issuing import passes as gp_issue

    key = bundlesvc.issuing_key(c)
    if key is None:
        raise DeclareError(_("this server holds no private issuer key for %(community)s (add one in the admin)")
                           % {"community": c.pk})
    now = int(timezone.now().timestamp())
    spec = gp_issue.new_spec(community=c.pk, role=int(role), unit=tuple(unit), dirs=int(dirs), label=label,
                             nbf=nbf, exp=exp, iat=now, cti=secrets.token_bytes(gp_issue.CTI_LEN))
    ip = gp_issue.issue(key, spec)
    return Pass.objects.create(
        community=c, cti=spec.cti.hex(), person=person, role=spec.role, building=unit[0], entrance=unit[1],
        room=unit[2], dirs=spec.dirs, label=label, kid=key.kid.hex(),
        nbf=dt.datetime.fromtimestamp(spec.nbf, dt.timezone.utc),
        exp=dt.datetime.fromtimestamp(spec.exp, dt.timezone.utc), text=ip.text)


def approve(d: Declaration, user, person_id: int | None = None, role: int | None = None, days: int = DEFAULT_DAYS,
            dirs: int = 3) -> tuple[Pass, str, str]:
    """Approve a pending declaration: link it to a roster person (person_id; None: the
    full match if there is one, else a new person), issue a signed pass, give the
    declaration's phone link its pass, and make a NEW phone link + one-time code for
    staff to hand over. Returns (pass, link token, code)."""
    if not 1 <= int(days) <= 366:
        raise DeclareError(_("days: 1 to 366"))
    with transaction.atomic():
        d = Declaration.objects.select_for_update().get(pk=d.pk)
        if d.status != DECL_PENDING:
            raise DeclareError(_("this declaration was already decided"))
        c = d.community
        unit, _created = Unit.objects.get_or_create(community=c, building=d.building, entrance=d.entrance, room=d.room)
        if person_id:
            person = Person.objects.filter(community=c, pk=person_id).first()
            if person is None:
                raise DeclareError(_("no such person in this community"))
            changed = []
            if not person.phone and d.phone:
                person.phone = d.phone
                changed.append("phone")
            if person.unit_id is None:
                person.unit = unit
                changed.append("unit")
            if changed:
                person.save(update_fields=changed)
        else:
            m = roster_match(d)
            if m["quality"] == MATCH_FULL:
                person = m["best"]
            else:
                person = Person.objects.create(community=c, name=d.name, phone=d.phone, unit=unit,
                                               note="self-declaration %d" % d.pk)
        now = int(timezone.now().timestamp())
        role = d.role if role is None else int(role)
        if role == VISITOR:
            raise DeclareError(_("a declaration cannot be approved as a visitor"))
        p = issue_signed(c, person, role, (d.building, d.entrance, d.room), dirs, now - 60, now + int(days) * 86400)
        d.status, d.decided_at, d.decided_by, d.person, d.pass_obj = DECL_APPROVED, timezone.now(), user, person, p
        d.save(update_fields=["status", "decided_at", "decided_by", "person", "pass_obj"])
        if d.link_id:
            PhoneAccess.objects.filter(pk=d.link_id).update(pass_obj=p)
        link, token = new_link(c, pass_obj=p)
        code = new_code(link, user.get_username() if user is not None else "")
    return p, token, code


def reject(d: Declaration, user, reason: str) -> Declaration:
    reason = (reason or "").strip()
    if not reason:
        raise DeclareError(_("a rejection needs a reason (the resident reads it)"))
    with transaction.atomic():
        d = Declaration.objects.select_for_update().get(pk=d.pk)
        if d.status != DECL_PENDING:
            raise DeclareError(_("this declaration was already decided"))
        d.status, d.decided_at, d.decided_by, d.reason = DECL_REJECTED, timezone.now(), user, reason[:200]
        d.save(update_fields=["status", "decided_at", "decided_by", "reason"])
    return d


def resident_link_for(p: Pass, user) -> tuple[PhoneAccess, str, str]:
    """A new phone link + one-time code for a pass (staff hand them over; the pass's
    older links keep working). Returns (link, token, code)."""
    link, token = new_link(p.community, pass_obj=p)
    return link, token, new_code(link, user.get_username() if user is not None else "")


# ------------------------------------------------------------------ visitors


def can_invite(p: Pass | None, now=None) -> bool:
    """A resident pass that is valid now, with a home unit, may invite visitors."""
    now = now or timezone.now()
    return (p is not None and p.role != VISITOR and not p.revoked and p.nbf <= now < p.exp and p.building > 0)


def invite(c: Community, unit: tuple[int, int, int], hours: int, start=None, by_pass: Pass | None = None,
           by_user=None, note: str = "") -> tuple[VisitorInvite, str]:
    """Invite a visitor to `unit` for `hours` from `start` (default now): a visitor pass
    (role VISITOR, the inviting unit, valid for the window) and its phone link.
    Returns (invitation, link token)."""
    hours = int(hours)
    if not 1 <= hours <= MAX_VISIT_HOURS:
        raise DeclareError(_("hours: 1 to %(max)d") % {"max": MAX_VISIT_HOURS})
    if not unit or unit[0] < 1:
        raise DeclareError(_("a visitor needs the unit that invites them"))
    now = timezone.now()
    start = start or now
    if start < now - dt.timedelta(minutes=5) or start > now + dt.timedelta(days=MAX_START_DAYS):
        raise DeclareError(_("the visit must start between now and %(days)d days ahead") % {"days": MAX_START_DAYS})
    end = start + dt.timedelta(hours=hours)
    # a gate whose clock lags a little must still let a visit that starts now begin
    nbf = int(start.timestamp()) - (60 if start <= now + dt.timedelta(minutes=1) else 0)
    with transaction.atomic():
        vp = issue_signed(c, None, VISITOR, tuple(unit), 3, nbf, int(end.timestamp()))
        link, token = new_link(c, PhoneAccess.KIND_VISITOR, vp)
        inv = VisitorInvite.objects.create(community=c, building=unit[0], entrance=unit[1], room=unit[2],
                                           start=start, end=end, by_pass=by_pass, by_user=by_user,
                                           visitor_pass=vp, link=link, note=note[:100])
    return inv, token


def cancel_invite(inv: VisitorInvite, reason: str = "invitation cancelled") -> None:
    vp = inv.visitor_pass
    if not vp.revoked:
        vp.revoked = True
        vp.revoked_reason = reason[:200]
        vp.save()
