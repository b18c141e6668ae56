"""`gatepass sim` interactive: a person at the simulated gates (the real firmware on
simulated boards, virtual time) presents passes and sees what the gate shows.

    > list                      the sample roster's passes and some that must fail
    > show 3 | show resident 3-1-1204
    > GP1:...                   any pass text (as a phone shows it)
    > qr card.png               a PNG of a QR code (gatepass pass issue --out x.png)
    > row 3-1-1205,resident     a roster row (unit,role,label,days,from,until,dirs), issued now
    > temp 38.2 | temp none     the next person's body temperature (none: nobody measured)
    > gate exit                 which gate (entrance or exit)
    > wait 5                    let simulated seconds pass
    > quit

After each pass: the decision and reason, the two display lines, the LEDs, buzzer and
the door relay, as the gate drives them."""
from __future__ import annotations

import io

from ..issuing import keys as keylib
from ..issuing import passes as iss
from ..issuing import roster
from ..mp.fw import fw_import
from . import crowd

HELP = __doc__.split("\n\n")[1]


class Session:
    """One interactive session: two gates with the cast of the scripted crowd (bundle v1
    applied: a lost phone revoked, unit 5-1-0302 quarantined). handle(line) -> text."""

    def __init__(self, issuer: keylib.IssuerKey, bundle_key: keylib.IssuerKey, community: str = "greenhill",
                 now: int | None = None, boards=("esp32-devkitc", "esp32-wrover-maglock"), keep_flash=None):
        import time

        self.now0 = int(time.time()) if now is None else now
        self.issuer = issuer
        self.community = community
        self.cast = crowd.Cast.issue(issuer, community, self.now0)
        self.site, self.gates = crowd.setup_site(self.cast, bundle_key, self.now0, boards, keep_flash=keep_flash)
        v1 = crowd.Visit("bundle v1", action="bundle", version=1)
        crowd._apply_bundle(self.site, self.gates, self.cast, bundle_key, v1)
        self.gate = "entrance"
        self.temp: float | None = 36.6
        self.names = sorted(self.cast.texts)

    def close(self) -> None:
        self.site.close()

    # ---- commands --------------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        """The answer to one input line; None means quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return ""
        if line.upper().startswith("GP1:"):
            return self.present(line, "pass text")
        cmd, _, arg = line.partition(" ")
        cmd, arg = cmd.lower(), arg.strip()
        if cmd in ("quit", "exit", "q"):
            return None
        if cmd in ("help", "?"):
            return HELP
        if cmd == "list":
            return "\n".join("%2d  %s" % (i, n) for i, n in enumerate(self.names, 1))
        if cmd == "show":
            name = self.names[int(arg) - 1] if arg.isdigit() and 0 < int(arg) <= len(self.names) else arg
            if name not in self.cast.texts:
                return "no pass %r: `list` shows the names and numbers" % arg
            return self.present(self.cast.texts[name], name)
        if cmd == "qr":
            return self.present_qr(arg)
        if cmd == "row":
            return self.present_row(arg)
        if cmd == "temp":
            return self.set_temp(arg)
        if cmd == "gate":
            if arg not in self.gates:
                return "gates: %s" % ", ".join(self.gates)
            self.gate = arg
            return "at the %s gate (%s)" % (arg, "way in" if arg == "entrance" else "way out")
        if cmd == "wait":
            try:
                s = float(arg)
            except ValueError:
                return "wait SECONDS"
            self.site.run_for(s * 1000)
            return "%g s later" % s
        return "unknown command %r (help lists them)" % cmd

    def set_temp(self, arg: str) -> str:
        if arg.lower() in ("none", "-", "nobody"):
            self.temp = None
            return "nobody at the thermometer"
        try:
            t = float(arg)
        except ValueError:
            return "temp DEGREES (e.g. 36.6 or 38.2) or temp none"
        if not 20.0 <= t <= 45.0:
            return "a body temperature between 20 and 45 C"
        self.temp = t
        return "next person: %.1f C" % t

    def present_qr(self, path: str) -> str:
        try:
            import zxingcpp
            from PIL import Image
        except ImportError:
            return "reading QR images needs zxing-cpp (pip install zxing-cpp)"
        try:
            found = zxingcpp.read_barcodes(Image.open(path))
        except (OSError, ValueError) as e:
            return "cannot read %s: %s" % (path, e)
        if not found:
            return "no QR code found in %s" % path
        return self.present(found[0].text, "QR " + path.rsplit("/", 1)[-1])

    def present_row(self, row: str) -> str:
        cells = next(iter(__import__("csv").reader([row])), [])
        header = ",".join(roster.ROSTER_COLUMNS[:len(cells)])
        try:
            rows = roster.load_roster(io.StringIO(header + "\n" + row + "\n"), self.community, now=self.site.now())
        except (roster.RosterError, iss.PassSpecError) as e:
            return "roster row refused: %s" % e
        p = iss.issue(self.issuer, rows[0].spec)
        return self.present(p.text, "row %s" % row)

    def present(self, text: str, what: str) -> str:
        g = self.gates[self.gate]
        if self.temp is None:
            g.nobody()
        else:
            g.person(self.temp)
        n = len(g.passages)
        g.show(text)
        try:
            ps = self.site.wait_passage(g, n)
        except AssertionError:
            g.hide()
            return "%s: no decision (the scanner ignored it: the same code again within %d s?)" % (
                self.gate, g.gate.repeat_ms // 1000)
        self.site.run_for(100)
        shown = self.observe(g)
        g.hide()
        reasons = fw_import("app.reasons")
        d = ps.decision
        out = ["%s gate, %s, %s: %s  %s  (%s)" % (self.gate, what if len(what) < 40 else what[:37] + "...",
                                                  "%.1f C" % self.temp if self.temp is not None else "no reading",
                                                  "ALLOW" if d.allow else "DENY", reasons.name(d.reason), d.message)]
        out += shown
        # the person walks through (or turns away); the gate settles before the next one
        if d.allow:
            self.site.run_for(500)
            g.open_door()
            self.site.run_for(1500)
            g.close_door()
        g.nobody()
        self.site.run_for(max(d.unlock_s * 1000, g.gate.repeat_ms) + 300)
        return "\n".join(out)

    def observe(self, g) -> list[str]:
        """What the gate shows now: display lines, LEDs, buzzer, door relay."""
        lines = g.display_lines()
        out = ["display: " + (" | ".join(ln.rstrip() for ln in lines) if lines else "(no display on this board)")]
        ind = g.rig.profile["indicator"]
        high = 1 if ind["active_high"] else 0

        def state(key):
            if key not in ind:
                return None
            return "ON" if g.rig.pin(ind[key]).level == high else "off"

        leds = ["%s %s" % (k, state(k)) for k in ("green", "red", "buzzer") if state(k) is not None]
        relay = "UNLOCKED" if g.relay_pin.level == g.unlock_level() else "locked"
        out.append("LEDs: %s; door relay %s" % (", ".join(leds) or "none", relay))
        return out


def run(console, session: Session, read=input) -> None:
    """Read commands until quit or end of input; print each answer on `console`."""
    console.print("[bold]gatepass sim[/bold] interactive: %s gates of %s; `help` lists the commands, `list` the "
                  "passes" % (" and ".join(session.gates), session.community))
    while True:
        try:
            line = read("%s> " % session.gate)
        except EOFError:
            break
        try:
            answer = session.handle(line)
        except Exception as e:  # noqa: BLE001 - a bad input must not end the session
            answer = "error: %s: %s" % (type(e).__name__, e)
        if answer is None:
            break
        if answer:
            console.print(answer, markup=False, highlight=False)


