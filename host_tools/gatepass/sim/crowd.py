"""A scripted crowd at two simulated gates (entrance + exit) running the real firmware.

    cast = Cast.issue(issuer, community, now)              # the sample roster + odd passes
    visits = script(cast)                                 # who shows what where, and what
    result = run(site, {"entrance": e, "exit": x}, cast, visits, Reporter(console))

Residents come and go, exempt staff (medical, delivery, ...) pass in any mode, visitors
show whatever QR code they have, someone has a fever, a lost phone's pass was revoked, a
quarantined unit tries to go out, a screenshot of a pass is reused (anti-passback), an
old pass has expired, someone does not step up to the thermometer, a door is held and
another forced, a second person scans while the door is still open, and a bundle
switches the community to "control" mode. Every visit says what the gate must decide;
the run reports each decision as it happens and returns the mismatches.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

import cbor2

from ..issuing import bundles
from ..issuing import keys as keylib
from ..issuing import passes as iss
from ..issuing import roster
from ..mp.fw import fw_import
from .simgate import SimGate, Site

ROSTER = "sample_roster.csv"


def roster_path():
    from importlib import resources

    return resources.files("gatepass") / "data" / ROSTER


@dataclass
class Cast:
    """Pass texts by name, plus what the bundle needs (revoked ctis, quarantined units)."""

    community: str
    issuer: keylib.IssuerKey
    passes: dict[str, iss.IssuedPass] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    revoked: list[bytes] = field(default_factory=list)
    quarantined: list[tuple[int, int, int]] = field(default_factory=list)

    @classmethod
    def issue(cls, issuer: keylib.IssuerKey, community: str, now: int, issued: list[iss.IssuedPass] | None = None,
              seed: int = 7) -> "Cast":
        """The cast: the sample roster's passes (`issued`, else issued here from the
        roster at time `now`), and passes nobody should get through with."""
        rnd = random.Random(seed)
        c = cls(community, issuer)
        if issued is None:
            rows = roster.load_roster(roster_path(), community, now=now,
                                   cti_source=lambda: bytes(rnd.randrange(256) for _ in range(8)))
            issued = [iss.issue(issuer, r.spec) for r in rows]
        seen: Counter = Counter()
        for p in issued:
            s = p.spec
            base = s.role_name if s.unit == (0, 0, 0) else "%s %s" % (s.role_name, s.unit_text)
            seen[base] += 1
            name = base if seen[base] == 1 else "%s #%d" % (base, seen[base])
            c.passes[name] = p
            c.texts[name] = p.text
        day = 86400
        other = iss.new_spec("sunnyside", "resident", "3-1-1203", "in,out", "", now - day, now + 30 * day,
                             iat=now, cti=b"\x5c" * 8)
        c.texts["other community"] = iss.issue(issuer, other).text
        stranger = keylib.from_scalar(0x5EC12E7 + 1, kid=b"\x99\x98\x97\x96")
        spec = iss.new_spec(community, "resident", "9-9-999", "in,out", "", now - day, now + 30 * day,
                            iat=now, cti=b"\x66" * 8)
        c.texts["unknown issuer"] = iss.issue(stranger, spec).text
        c.texts["edited pass"] = forge_unit(c.texts["resident 3-1-1204"], (3, 1, 1205))
        old = iss.new_spec(community, "resident", "6-2-0201", "in,out", "", now - 60 * day, now - 30 * day,
                           iat=now - 60 * day, cti=b"\x0e" * 8)
        c.passes["expired 6-2-201"] = iss.issue(issuer, old)
        c.texts["expired 6-2-201"] = c.passes["expired 6-2-201"].text
        # the bundle: a lost phone's pass revoked, unit 5-1-0302 quarantined
        c.revoked = [c.passes["resident 3-1-1203 #2"].spec.cti]
        c.quarantined = [(5, 1, 302)]
        return c


def forge_unit(text: str, unit: tuple[int, int, int]) -> str:
    """The same pass with its home unit edited and the original signature kept: what an
    edited screenshot amounts to (BAD_SIGNATURE at the gate)."""
    raw = _unbase45(text[len(iss.PREFIX):])
    tag = cbor2.loads(raw)
    protected, unprotected, payload, sig = tag.value
    claims = cbor2.loads(payload)
    claims[iss.CLAIM_GATEPASS][iss.GP_UNIT] = list(unit)
    payload = cbor2.dumps(claims, canonical=True)
    cose = cbor2.dumps(cbor2.CBORTag(iss.TAG_SIGN1, [protected, unprotected, payload, sig]), canonical=True)
    return iss.PREFIX + iss.base45_encode(cose)


def _unbase45(s: str) -> bytes:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    out = bytearray()
    for i in range(0, len(s), 3):
        chunk = s[i:i + 3]
        v = sum(alphabet.index(ch) * 45 ** k for k, ch in enumerate(chunk))
        if len(chunk) == 3:
            out += v.to_bytes(2, "big")
        else:
            out.append(v)
    return bytes(out)


@dataclass
class Visit:
    """One step of the script.

    action: "scan" (show `pass_name`'s code, or `text`), "force" (push the locked door
    open), "bundle" (apply bundle `version` with `mode`), "note" (a comment line),
    "sync" (wait until this gate knows `pass_name` went out at another gate: paired
    gates know at once, gates on a server learn it from the server);
    body_c: compensated temperature of the person at the thermometer, None = nobody;
    walk: through the door when let in; hold_s: keep the door open that long;
    second: another code shown while the door is still open (must be dropped);
    expect: reason name for scans, event name for "force", "applied" for bundles.
    """

    who: str
    gate: str = "entrance"
    action: str = "scan"
    pass_name: str | None = None
    text: str | None = None
    body_c: float | None = 36.6
    walk: bool = True
    hold_s: float = 0
    second: str | None = None
    expect: str = "OK"
    version: int = 0
    mode: int = 0


def script(cast: Cast, now: int) -> list[Visit]:
    """The day at the gate (entrance = IN, exit = OUT)."""
    exp = cast.passes["resident 8-3-1502"].spec
    late = "EXPIRED" if now >= exp.exp else ("NOT_YET_VALID" if now < exp.nbf else "OK")
    return [
        Visit("bundle v1: lost phone revoked, 5-1-0302 quarantined", action="bundle", version=1, expect="applied"),
        Visit("resident of 3-1-1203 comes home", pass_name="resident 3-1-1203", body_c=36.5),
        Visit("clinic doctor on duty", pass_name="medical", body_c=36.7, expect="OK_EXEMPT"),
        Visit("vegetable delivery", pass_name="supply", body_c=36.4, expect="OK_EXEMPT"),
        Visit("resident of 3-1-1204 goes out", "exit", pass_name="resident 3-1-1204", body_c=36.8),
        Visit("visitor shows a restaurant menu QR", text="https://menu.example/lunch?table=4", body_c=36.5,
              expect="MALFORMED"),
        Visit("visitor with a pass of another community", pass_name="other community", expect="WRONG_COMMUNITY"),
        Visit("pass made with a key the gate does not trust", pass_name="unknown issuer", expect="UNKNOWN_KID"),
        Visit("screenshot edited to another flat", pass_name="edited pass", expect="BAD_SIGNATURE"),
        Visit("resident of 3-2-0501 has a fever", pass_name="resident 3-2-501", body_c=38.4, expect="FEVER"),
        Visit("lost phone's pass (revoked) shown", pass_name="resident 3-1-1203 #2", expect="REVOKED"),
        Visit("quarantined 5-1-0302 tries to go out", "exit", pass_name="resident 5-1-302", body_c=36.6,
              expect="QUARANTINED"),
        Visit("screenshot of 3-1-1203's pass (owner is inside)", pass_name="resident 3-1-1203", expect="PASSBACK"),
        Visit("old pass of 8-3-1502", pass_name="resident 8-3-1502", expect=late),
        Visit("pass long expired (6-2-201)", pass_name="expired 6-2-201", expect="EXPIRED"),
        Visit("3-1-1204 scans but stays away from the thermometer", pass_name="resident 3-1-1204", body_c=None,
              expect="NO_READING"),
        Visit("3-1-1204 tries again, steps up", pass_name="resident 3-1-1204", body_c=36.6, second="medical"),
        Visit("delivery (entry-only pass) tries the exit", "exit", pass_name="supply", expect="DIRECTION_NOT_ALLOWED"),
        Visit("3-1-1203 goes out", "exit", pass_name="resident 3-1-1203", body_c=36.4),
        Visit("the exit's passage of 3-1-1203 reaches the entrance", action="sync", pass_name="resident 3-1-1203"),
        Visit("3-1-1203 comes back (the exit told the entrance)", pass_name="resident 3-1-1203", body_c=36.5),
        Visit("epidemic-control team goes out", "exit", pass_name="epidemic", expect="OK_EXEMPT"),
        Visit("property staff props the door open", pass_name="property", expect="OK_EXEMPT", hold_s=35),
        Visit("someone forces the exit door", "exit", action="force", expect="door_forced"),
        Visit("bundle v2: community mode 'control'", action="bundle", version=2, mode=1, expect="applied"),
        Visit("3-1-1203 wants to go out (control mode)", "exit", pass_name="resident 3-1-1203", expect="MODE_CONTROL"),
        Visit("clinic doctor goes out (exempt)", "exit", pass_name="medical", expect="OK_EXEMPT"),
        Visit("sanitation worker comes in", pass_name="sanitation", body_c=36.3, expect="OK_EXEMPT"),
        Visit("fire brigade", pass_name="emergency", body_c=36.9, expect="OK_EXEMPT"),
    ]


@dataclass
class Row:
    """One line of the live report (a passage, an event or a note)."""

    t: int
    gate: str
    who: str
    role: str = ""
    unit: str = ""
    temp: str = ""
    decision: str = ""
    reason: str = ""
    message: str = ""
    ok: bool = True
    kind: str = "passage"


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    mismatches: list[tuple[Visit, str]] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    dropped: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches


def row_for(gname: str, who: str, ps, shown: str | None = None) -> Row:
    """The table row of passage `ps`; message: what the gate's display showed (`shown`),
    else the decision's catalog message."""
    reasons = fw_import("app.reasons")
    roles = fw_import("app.roles")
    d = ps.decision
    p = ps.p
    role = unit = ""
    if p is not None and not isinstance(p, int):
        role = roles.name(p.role)
        unit = p.unit() if (p.building or p.entrance or p.room) else ""
    t = ps.temp
    temp = ("%d.%02d" % divmod(t.body_cc, 100)) if t is not None and not isinstance(t, int) else "-"
    return Row(ps.t, gname, who, role, unit, temp, "ALLOW" if d.allow else "DENY", reasons.name(d.reason),
               shown or d.message)


def _apply_bundle(site: Site, gates: dict[str, SimGate], cast: Cast, bundle_key, v: Visit) -> list[str]:
    content = bundles.Content(cast.community, mode=v.mode, revoked=cast.revoked, quarantined=cast.quarantined)
    data = bundles.build(bundle_key, content, v.version, site.now())
    out = []
    for g in gates.values():
        code, version = g.app.store.apply(data)
        out.append("applied" if code == 0 else "rejected %d" % code)
    return out


def _went_out(g: SimGate, pid: bytes) -> bool:
    apb = g.gate.apb if g.gate is not None else None
    last = apb.last(pid) if apb is not None else None
    return last is not None and last[0] == 2  # roles.OUT


def _walk(site: Site, g: SimGate, hold_s: float = 0, second: str | None = None) -> int:
    """Through the door: it opens a moment after the unlock, closes behind. Returns how
    many scans the gate dropped meanwhile (a second person scanning too early)."""
    before = g.gate.counts["dropped"]
    site.run_for(700)
    g.open_door()
    if second is not None:
        site.run_for(300)
        g.hide()
        g.show(second)
        site.run_for(600)
        g.hide()
    site.run_for(max(1200, hold_s * 1000))
    g.close_door()
    site.run_for(400)
    return g.gate.counts["dropped"] - before


def run(site: Site, gates: dict[str, SimGate], cast: Cast, visits: list[Visit], report=None,
        bundle_key: keylib.IssuerKey | None = None, gap_ms: float = 1500, apply_bundle=None) -> Result:
    """Play the script; `report(row)` is called for every row as it happens.
    `apply_bundle(site, gates, cast, bundle_key, visit) -> [outcome per gate]` does the
    "bundle" steps (default: sign one here and hand it to each gate's bundle store; the
    server demo changes the community on the server and waits for the gates instead)."""
    step_bundle = apply_bundle or _apply_bundle
    record = fw_import("app.record")
    res = Result()
    t0 = time.perf_counter()
    emit = report or (lambda row: None)
    events: list[Row] = []

    def on_event(g, kind, seq):
        name = record.KIND_NAMES.get(kind, str(kind))
        if name in ("door_held", "door_forced", "door_closed", "sensor_fault", "error", "log_near_full"):
            events.append(Row(site.now(), g.name, "", decision="EVENT", reason=name, kind="event"))

    for g in gates.values():
        g.on_event.append(on_event)

    def flush_events(expect=None):
        got = []
        while events:
            r = events.pop(0)
            got.append(r.reason)
            emit(r)
            res.rows.append(r)
        return got

    for v in visits:
        g = gates.get(v.gate)
        if v.action == "bundle":
            outcome = step_bundle(site, gates, cast, bundle_key, v)
            ok = all(o == v.expect for o in outcome)
            r = Row(site.now(), "all", v.who, decision="BUNDLE", reason="v%d %s" % (v.version, "/".join(sorted(set(outcome)))),
                    ok=ok, kind="bundle")
            emit(r)
            res.rows.append(r)
            if not ok:
                res.mismatches.append((v, ",".join(outcome)))
            continue
        if v.action == "force":
            g.open_door()
            site.run_for(2500)
            g.close_door()
            site.run_for(500)
            got = flush_events()
            if v.expect not in got:
                res.mismatches.append((v, ",".join(got) or "no event"))
            continue
        if v.action == "note":
            r = Row(site.now(), g.name if g else "", v.who, kind="note")
            emit(r)
            continue
        if v.action == "sync":
            pid = record.pass_id(cast.passes[v.pass_name].spec.cti)
            t0_ms = site.clock.now_ms
            ok = site.run_until(lambda: _went_out(g, pid), 120_000, 100)
            r = Row(site.now(), g.name, v.who, decision="SYNC",
                    reason="%.0f s" % ((site.clock.now_ms - t0_ms) / 1000) if ok else "not synced",
                    kind="note", ok=ok)
            emit(r)
            res.rows.append(r)
            if not ok:
                res.mismatches.append((v, "the other gate's passage never arrived"))
            continue
        text = v.text if v.text is not None else cast.texts[v.pass_name]
        if v.body_c is None:
            g.nobody()
        else:
            g.person(v.body_c)
        n = len(g.passages)
        g.show(text)
        ps = site.wait_passage(g, n)
        row = row_for(g.name, v.who, ps, " ".join(g.display_lines()))
        row.ok = row.reason == v.expect
        emit(row)
        res.rows.append(row)
        res.reasons[row.reason] += 1
        if not row.ok:
            res.mismatches.append((v, row.reason))
        g.hide()
        if ps.decision.allow and v.walk:
            dropped = _walk(site, g, v.hold_s, v.second)
            if v.second is not None:
                res.dropped += dropped
                ok = dropped >= 1
                r = Row(site.now(), g.name, "someone scans while the door is open", decision="DROPPED",
                        reason="Please wait", kind="note", ok=ok)
                emit(r)
                res.rows.append(r)
                if not ok:
                    res.mismatches.append((v, "second scan not dropped"))
        g.nobody()
        site.run_for(gap_ms)
        got = flush_events()
        if v.hold_s and "door_held" not in got:
            res.mismatches.append((v, "no door_held event"))
    site.run_for(500)
    flush_events()
    res.seconds = time.perf_counter() - t0
    return res


# ---- presentation (rich; plain lines without a terminal) -----------------------------------

# (name, width, priority): the columns in display order; when the console is narrower than
# all of them, the lowest priorities go first. decision and reason are never dropped.
COLUMNS = (("time", 8, 3), ("gate", 8, 2), ("role", 10, 7), ("unit", 9, 8), ("temp", 5, 4), ("decision", 8, 0),
           ("reason", 21, 1), ("message", 20, 6), ("scene", 44, 5))
MIN_SCENE = 16  # the scene column shrinks to this before it is dropped


def fit_columns(width: int) -> list[tuple[str, int]]:
    """The columns (name, width) that fit `width` characters, in display order."""
    chosen: set[str] = set()
    used = -1  # one space between columns
    for name, w, _prio in sorted(COLUMNS, key=lambda c: c[2]):
        need = (MIN_SCENE if name == "scene" else w) + 1
        if used + need <= width or _prio <= 1:
            chosen.add(name)
            used += need
    cols = [(name, w) for name, w, _p in COLUMNS if name in chosen]
    if "scene" in chosen:  # the scene takes what is left, up to its full width
        spare = width - sum(w + 1 for name, w in cols if name != "scene")
        cols = [(name, max(MIN_SCENE, min(w, spare)) if name == "scene" else w) for name, w in cols]
    return cols


class Reporter:
    """Prints one aligned row per decision as it happens, then a summary. The columns adapt
    to the console's width (decision and reason always shown)."""

    def __init__(self, console, pace_s: float = 0.0):
        self.console = console
        self.pace_s = pace_s
        self._header = False
        self.columns = fit_columns(console.width)

    def _table(self, header: bool):
        from rich.table import Table

        t = Table(show_header=header, box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
        for name, width in self.columns:
            t.add_column(name, width=width, no_wrap=True, overflow="ellipsis")
        return t

    def __call__(self, r: Row) -> None:
        if not self._header:
            self.console.print(self._table(True))
            self._header = True
        style = ""
        if r.kind == "passage":
            style = "green" if r.decision == "ALLOW" else ("bold red" if r.reason == "FEVER" else "red")
        elif r.kind == "event":
            style = "yellow"
        elif r.kind in ("bundle", "note"):
            style = "cyan"
        if not r.ok:
            style = "reverse " + (style or "white")
        t = self._table(False)
        when = time.strftime("%H:%M:%S", time.localtime(r.t)) if r.t else ""
        cells = {"time": when, "gate": r.gate, "role": r.role, "unit": r.unit, "temp": r.temp, "decision": r.decision,
                 "reason": r.reason, "message": r.message, "scene": r.who + ("" if r.ok else "  << UNEXPECTED")}
        t.add_row(*[cells[name] for name, _w in self.columns], style=style or None)
        self.console.print(t)
        if self.pace_s:
            time.sleep(self.pace_s)

    def summary(self, res: Result, gates: dict[str, SimGate]) -> None:
        from rich.table import Table

        c = self.console
        t = Table(title="decisions by reason", box=None, header_style="bold")
        t.add_column("reason")
        t.add_column("count", justify="right")
        for reason, n in sorted(res.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add_row(reason, str(n))
        c.print(t)
        g = Table(title="gates", box=None, header_style="bold")
        for col in ("gate", "board", "passages", "allowed", "denied", "dropped", "events", "log seq",
                    "unlocks", "flash"):
            g.add_column(col, overflow="fold")
        for sg in gates.values():
            st = sg.gate.counts
            recs = sg.records()
            unlocks = len(sg.unlocked_intervals())
            g.add_row(sg.name, sg.profile["name"], str(st["passages"]), str(st["allowed"]),
                      str(st["passages"] - st["allowed"]), str(st["dropped"]), str(len(sg.events)),
                      "%d..%d" % (recs[0]["seq"], recs[-1]["seq"]) if recs else "-", str(unlocks),
                      "(temporary)" if sg._own_flash else str(sg.flash))
        c.print(g)
        if res.ok:
            c.print("[green]every decision matched the script[/green] (%d rows, %.1f s)" % (len(res.rows), res.seconds))
        else:
            c.print("[bold red]%d unexpected outcome(s):[/bold red]" % len(res.mismatches))
            for v, got in res.mismatches:
                c.print("  %s at %s: expected %s, got %s" % (v.who, v.gate, v.expect, got))


# ---- a whole run -------------------------------------------------------------------------


def setup_site(cast: Cast, bundle_key: keylib.IssuerKey, start_unix: int, boards=("esp32-devkitc", "esp32-wrover-maglock"),
               trusted_time: bool = True, keep_flash: str | None = None,
               chinese: bool = True) -> tuple[Site, dict[str, SimGate]]:
    """Two provisioned, booted and started gates sharing anti-passback state; `chinese`:
    deployed with the glyph and voice files, so their displays show Chinese."""
    from pathlib import Path

    site = Site(start_unix)
    keys = [(cast.issuer.kid, cast.issuer.pub65)]
    bkeys = [(bundle_key.kid, bundle_key.pub65)]
    gates = {}
    for (name, direction), board in zip((("entrance", "in"), ("exit", "out")), boards):
        flash = None
        if keep_flash:
            flash = Path(keep_flash) / name
            flash.mkdir(parents=True, exist_ok=True)
        gates[name] = site.add(name, direction, board=board, community=cast.community, keys=keys,
                               bundle_keys=bkeys, flash_dir=flash, chinese=chinese)
    for g in gates.values():
        app = g.boot()
        if app.status != "run":
            raise RuntimeError("%s: %s: %s" % (g.name, app.status, app.error))
        site.start(g)
    site.pair(gates["entrance"], gates["exit"])
    site.run_for(500)
    if trusted_time:
        site.set_time()
    return site, gates


def play(console, issuer: keylib.IssuerKey, bundle_key: keylib.IssuerKey, community: str = "greenhill",
         now: int | None = None, issued: list[iss.IssuedPass] | None = None,
         boards=("esp32-devkitc", "esp32-wrover-maglock"), keep_flash: str | None = None,
         pace_s: float = 0.0) -> Result:
    """Cast, site, script, live report and summary: what `gatepass sim` and the demo run."""
    now = int(time.time()) if now is None else now
    cast = Cast.issue(issuer, community, now, issued)
    site, gates = setup_site(cast, bundle_key, now, boards, keep_flash=keep_flash)
    try:
        rep = Reporter(console, pace_s)
        res = run(site, gates, cast, script(cast, now), rep, bundle_key=bundle_key)
        rep.summary(res, gates)
    finally:
        site.close()
    return res


def console(stderr: bool = False):
    """A rich Console that stays readable without a terminal (CI logs): plain text,
    wide enough for a row."""
    import sys

    from rich.console import Console

    import os

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(file=stream, width=None if tty or os.environ.get("COLUMNS") else 160, highlight=False,
                   soft_wrap=False)
