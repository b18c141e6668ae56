"""People, units and passes onto the server: roster import and pass registration.

One path for the three ways in (the staff page views_people.py, `gatepass server roster`,
and the staff API's /roster and /passes that `gatepass pass batch --server` uses):

    rows, problems = read_roster(data, "名单.xlsx", community)   # the issuing reader
    result = apply(community, rows, issue_passes=True, commit=False)   # a preview
    result = apply(community, rows, issue_passes=True, commit=True, request=request)

The roster is read by gatepass.issuing.roster (UTF-8 with or without BOM, GBK/GB18030,
UTF-16, XLSX, Chinese headers): the same rows and problems as `gatepass pass batch`.

Idempotent: a person is the same person when name and home unit match (or name and
phone: then the person moved, reported as a change); a unit is its building-entrance-
room; a pass given with its id (cti) is that pass; a server-issued pass is kept while the
person holds a valid one of the same role and unit. A re-import creates nothing twice
and reports what changed. Names and phones stay here: passes carry the pass id only.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
import tempfile
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_lazy as _

from ..issuing import messages as issuing_messages
from ..issuing import roster as rosterlib
from ..issuing.messages import Message

MAX_ROSTER_BYTES = 5 * 1024 * 1024
NAME_MAX, PHONE_MAX, NOTE_MAX = 100, 32, 200


@dataclasses.dataclass
class Row:
    """One person (and pass) to bring onto the server. unit (0, 0, 0): none (staff roles).
    cti set: a pass issued elsewhere (`pass batch`), registered as it is; else the
    server issues one (issue_passes) from role/dirs/label/nbf/exp."""

    line: int
    name: str
    role: int
    unit: tuple[int, int, int] = (0, 0, 0)
    phone: str = ""
    note: str = ""
    dirs: int = 3
    label: str = ""
    nbf: int = 0
    exp: int = 0
    cti: str = ""
    kid: str = ""
    text: str = ""


@dataclasses.dataclass
class Problem:
    line: int
    field: str
    message: str

    def text(self, language_gettext=None) -> str:
        """The message in the active language (a Message of the issuing package: its template
        through the server's catalog)."""
        return issuing_messages.translate(self.message, language_gettext or gettext)

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": str(self.message)}


@dataclasses.dataclass
class RowResult:
    line: int
    name: str
    unit: str
    role: int
    person: str = ""  # new | changed | same | "" (no name)
    changes: list = dataclasses.field(default_factory=list)
    unit_new: bool = False
    pass_state: str = ""  # issued | kept | registered | same | relinked | none
    cti: str = ""

    def as_dict(self) -> dict:
        return {"line": self.line, "name": self.name, "unit": self.unit, "role": self.role, "person": self.person,
                "changes": [str(c) for c in self.changes], "unit_new": self.unit_new, "pass_state": self.pass_state,
                "cti": self.cti}


@dataclasses.dataclass
class Result:
    rows: list
    committed: bool
    people_new: int = 0
    people_changed: int = 0
    people_same: int = 0
    units_new: int = 0
    passes_issued: int = 0
    passes_kept: int = 0
    passes_registered: int = 0
    no_key: bool = False  # passes wanted but this server holds no private issuer key

    def summary(self) -> dict:
        return {k: getattr(self, k) for k in ("people_new", "people_changed", "people_same", "units_new",
                                              "passes_issued", "passes_kept", "passes_registered", "no_key")}

    def summary_text(self) -> str:
        """One English line (audit log, command line)."""
        s = ("people: %d new, %d changed, %d unchanged; units: %d new; passes: %d issued, %d kept, %d registered"
             % (self.people_new, self.people_changed, self.people_same, self.units_new, self.passes_issued,
                self.passes_kept, self.passes_registered))
        return s + ("; no passes issued: no private issuer key on this server" if self.no_key else "")


def unit_str(unit) -> str:
    return "%d-%d-%d" % tuple(unit) if tuple(unit) != (0, 0, 0) else ""


# ------------------------------------------------------------------ reading


def read_roster(data: bytes, filename: str, community: str, encoding: str | None = None,
                now: int | None = None) -> tuple[list[Row], list[Problem]]:
    """A roster file's rows for the server, or its problems (then no rows): the issuing
    reader's problems plus the server's own (a person needs a name; a row twice)."""
    if len(data) > MAX_ROSTER_BYTES:
        return [], [Problem(0, "file", Message("the file is larger than %d MB", MAX_ROSTER_BYTES // (1024 * 1024)))]
    suffix = Path(filename or "roster.csv").suffix.lower() or ".csv"
    if not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ".csv"
    fd, tmp = tempfile.mkstemp(prefix="gatepass-roster-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            loaded = rosterlib.load_roster(tmp, community, now=now, tz=timezone.get_current_timezone(),
                                           encoding=encoding or None)
        except rosterlib.RosterError as e:
            return [], [Problem(ln, f, m) for ln, f, m in e.problems]
    finally:
        os.unlink(tmp)
    rows, problems, seen = [], [], {}
    for r in loaded:
        name = " ".join(r.extra.get("name", "").split())
        phone = r.extra.get("phone", "").strip()
        note = (r.extra.get("note") or r.extra.get("notes") or "").strip()
        if not name:
            problems.append(Problem(r.line, "name", Message("a person needs a name on the server")))
            continue
        for field, value, most in (("name", name, NAME_MAX), ("phone", phone, PHONE_MAX), ("note", note, NOTE_MAX)):
            if len(value) > most:
                problems.append(Problem(r.line, field, Message("longer than %d characters", most)))
        s = r.spec
        key = (name, s.unit, s.role)
        if key in seen:
            problems.append(Problem(r.line, "row", Message("the same person, unit and role as line %d", seen[key])))
            continue
        seen[key] = r.line
        rows.append(Row(line=r.line, name=name, role=s.role, unit=tuple(s.unit), phone=phone, note=note[:NOTE_MAX],
                        dirs=s.dirs, label=s.label, nbf=s.nbf, exp=s.exp))
    return ([], problems) if problems else (rows, [])


def field_name(field: str) -> str:
    """A roster column in the reader's language: its first Chinese header on Chinese pages."""
    from django.utils.translation import get_language

    if (get_language() or "").startswith("zh"):
        zh = rosterlib.HEADER_ALIASES.get(field)
        if zh:
            return zh[0]
    return field


# ------------------------------------------------------------------ applying


def _ts(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


class RegistrationError(ValueError):
    """A pass that cannot be registered (another community's id, ...): nothing is written."""

    def __init__(self, line: int, message: str):
        super().__init__("line %d: %s" % (line, message))
        self.line = line
        self.message = message


def apply(community, rows: list[Row], issue_passes: bool = False, commit: bool = False, request=None,
          source: str = "roster", action: str = "roster_import") -> Result:
    """Bring rows onto the server (commit) or say what that would do (preview: nothing is
    written, no pass is signed). One transaction: all rows or none. The audit log gets
    one entry per committed import (who, what file, the counts)."""
    from . import audit, bundlesvc, dblock
    from .models import Pass, Person, Unit

    c = community
    key = bundlesvc.issuing_key(c) if (issue_passes and commit) else None
    has_key = key is not None or (issue_passes and not commit and _has_issuing_key(c))
    res = Result(rows=[], committed=commit, no_key=issue_passes and not has_key)
    lock = dblock.writer() if commit else _nolock()
    with lock, transaction.atomic():
        units = {(u.building, u.entrance, u.room): u for u in Unit.objects.filter(community=c)}
        people = list(Person.objects.filter(community=c).select_related("unit"))
        by_unit = {(p.name, p.unit_id): p for p in people}
        by_phone = {(p.name, p.phone): p for p in people if p.phone}
        now = timezone.now()
        valid = {}
        for p in Pass.objects.filter(community=c, revoked=False, exp__gt=now, person__isnull=False).order_by("issued_at"):
            valid[(p.person_id, p.role, p.building, p.entrance, p.room)] = p
        by_cti = {}
        ctis = [r.cti.lower() for r in rows if r.cti]
        for i in range(0, len(ctis), 500):
            for p in Pass.objects.filter(cti__in=ctis[i:i + 500]):
                by_cti[p.cti] = p
        touched = set()
        for r in rows:
            rr = RowResult(line=r.line, name=r.name, unit=unit_str(r.unit), role=r.role)
            res.rows.append(rr)
            unit = None
            if tuple(r.unit) != (0, 0, 0):
                unit = units.get(tuple(r.unit))
                if unit is None:
                    unit = Unit(community=c, building=r.unit[0], entrance=r.unit[1], room=r.unit[2])
                    if commit:
                        unit.save()
                    else:
                        unit.pk = -len(units) - 1  # a stand-in id for the preview's matching
                    units[tuple(r.unit)] = unit
                    rr.unit_new = True
                    res.units_new += 1
            person = None
            if r.name:
                person = by_unit.get((r.name, unit.pk if unit else None))
                if person is None and r.phone:
                    person = by_phone.get((r.name, r.phone))
                if person is None:
                    person = Person(community=c, name=r.name, phone=r.phone, note=r.note, unit=unit)
                    if commit:
                        person.save()
                    else:
                        person.pk = -len(people) - 1
                    people.append(person)
                    rr.person = "new"
                    res.people_new += 1
                elif person.pk in touched:
                    rr.person = "same"  # a second role of someone this roster already named
                else:
                    rr.changes = _changes(person, r, unit)
                    if rr.changes:
                        person.phone = r.phone or person.phone
                        person.note = r.note or person.note
                        old_unit = person.unit_id
                        person.unit = unit
                        if commit:
                            person.save(update_fields=["phone", "note", "unit"])
                        by_unit.pop((person.name, old_unit), None)
                        rr.person = "changed"
                        res.people_changed += 1
                    else:
                        rr.person = "same"
                        res.people_same += 1
                touched.add(person.pk)
                by_unit[(person.name, unit.pk if unit else None)] = person
                if person.phone:
                    by_phone[(person.name, person.phone)] = person
            if r.cti:
                _register(c, r, rr, person, by_cti, commit, res)
            elif issue_passes and person is not None:
                held = valid.get((person.pk, r.role) + tuple(r.unit))
                if held is not None:
                    rr.pass_state, rr.cti = "kept", held.cti
                    res.passes_kept += 1
                elif has_key:
                    rr.pass_state = "issued"
                    res.passes_issued += 1
                    if commit:
                        p = _issue(c, key, r, person)
                        rr.cti = p.cti
                        valid[(person.pk, r.role) + tuple(r.unit)] = p
                else:
                    rr.pass_state = "none"
            else:
                rr.pass_state = "none"
        if commit and rows:
            audit.record(request, action, c.pk,
                         source[:200], "%d row(s): %s" % (len(rows), res.summary_text()))
        else:
            transaction.set_rollback(True)
    return res


class _nolock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _has_issuing_key(c) -> bool:
    from .models import IssuerKey

    return IssuerKey.objects.filter(community=c, active=True).exclude(private_pem="").exists()


def _fmt(template, **kw) -> str:
    return str(template) % kw


lazy_format = lazy(_fmt, str)


def _changes(person, r: Row, unit) -> list:
    out = []
    if (unit.pk if unit else None) != person.unit_id:
        # lazy: read in the language of whoever reads the result (page, API, command line)
        out.append(lazy_format(_("home unit %(old)s -> %(new)s"),
                               old=str(person.unit) if person.unit_id else "-", new=unit_str(r.unit) or "-"))
    if r.phone and r.phone != person.phone:
        out.append(_("phone changed"))
    if r.note and r.note != person.note:
        out.append(_("note changed"))
    return out


def _issue(c, key, r: Row, person):
    from ..issuing import passes as gp
    from .models import Pass

    now = int(timezone.now().timestamp())
    spec = gp.new_spec(community=c.pk, role=r.role, unit=tuple(r.unit), dirs=r.dirs, label=r.label, nbf=r.nbf,
                       exp=r.exp, iat=now, cti=secrets.token_bytes(gp.CTI_LEN))
    ip = gp.issue(key, spec)
    b, e, rm = r.unit
    return Pass.objects.create(community=c, cti=spec.cti.hex(), person=person, role=spec.role, building=b,
                               entrance=e, room=rm, dirs=spec.dirs, label=r.label, kid=key.kid.hex(),
                               nbf=_ts(spec.nbf), exp=_ts(spec.exp), text=ip.text)


def _register(c, r: Row, rr: RowResult, person, by_cti, commit: bool, res: Result):
    from .models import Pass

    cti = r.cti.lower()
    rr.cti = cti
    p = by_cti.get(cti)
    if p is not None:
        if p.community_id != c.pk:
            raise RegistrationError(r.line, "pass %s belongs to another community" % cti)
        same = (p.role, p.building, p.entrance, p.room) == (r.role,) + tuple(r.unit)
        if not same:
            raise RegistrationError(r.line, "pass %s is registered with another role or unit" % cti)
        if person is not None and p.person_id != person.pk:
            rr.pass_state = "relinked"
            if commit:
                p.person = person
                p.save(update_fields=["person"])
        else:
            rr.pass_state = "same"
        return
    b, e, rm = r.unit
    p = Pass(community=c, cti=cti, person=person, role=r.role, building=b, entrance=e, room=rm, dirs=r.dirs,
             label=r.label, kid=r.kid, nbf=_ts(r.nbf), exp=_ts(r.exp), text=r.text)
    if commit:
        p.save()
    by_cti[cti] = p
    rr.pass_state = "registered"
    res.passes_registered += 1
