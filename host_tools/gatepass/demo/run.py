"""`python -m gatepass.demo` (`make demo`): the whole device story, end to end, unattended.

1. an issuer key and a community bundle key are made;
2. passes are issued for the sample roster: QR codes (PNG + SVG), a manifest and printable
   cards (PDF), written to the output directory;
3. every pass is verified by the device code on the real MicroPython runtime (the
   WebAssembly port under node), with the fields compared to what was issued;
4. an entrance and an exit gate run the real firmware on simulated boards (virtual time)
   and a scripted crowd passes through them; each decision is shown as it happens.

Exit status 0 only when every pass verified as issued and every gate decision matched
the script. No terminal needed: without one, rich prints plain aligned lines.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from .. import repo_root
from ..issuing import keys as keylib
from ..issuing import passes as iss
from ..issuing import roster
from ..mp import compat as mpcompat
from ..sim import crowd

COMMUNITY = "greenhill"


def verify_on_micropython(issued: list[iss.IssuedPass], issuer: keylib.IssuerKey, community: str, now: int):
    """Validate every pass with firmware/app/passes.py on the MicroPython runtime.
    Returns [(pass, result, us)]: result is a tuple of fields or a reason code."""
    from ..mp.runtime import MicroPython  # the runtime bridge the test suite uses

    texts = [p.text for p in issued]
    code = (
        "import time\n"
        "from binascii import hexlify\n"
        "from app import p256, passes\n"
        "keys = {%r: p256.PublicKey(%r)}\n"
        "out = []\n"
        "for t in %r:\n"
        "    t0 = time.ticks_us()\n"
        "    r = passes.validate(t, keys, %r, %d)\n"
        "    us = time.ticks_diff(time.ticks_us(), t0)\n"
        "    if not isinstance(r, int):\n"
        "        r = (r.role, r.building, r.entrance, r.room, r.dirs, hexlify(r.cti).decode(), r.nbf, r.exp, r.label)\n"
        "    out.append((r, us))\n"
        "import sys\n"
        "print('@@R@@' + repr((out, sys.implementation.version)))\n"
    ) % (issuer.kid, issuer.pub65, texts, community, now)
    with MicroPython() as rt:
        stdout = rt.run(code)
    line = [ln for ln in stdout.splitlines() if ln.startswith("@@R@@")][-1]
    out, version = eval(line[5:], {"__builtins__": {}})
    return [(p, r, us) for p, (r, us) in zip(issued, out)], version


def expected(p: iss.IssuedPass, now: int):
    s = p.spec
    if now >= s.exp:
        return 15  # EXPIRED
    if now < s.nbf:
        return 14  # NOT_YET_VALID
    return (s.role, s.unit[0], s.unit[1], s.unit[2], s.dirs, s.cti.hex(), s.nbf, s.exp, s.label)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gatepass.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="output directory (default: a new temporary directory)")
    ap.add_argument("--pace", type=float, default=0.0, help="real seconds between gate rows")
    ap.add_argument("--gates", type=int, default=2, help="simulated gates at the server (entrance/exit pairs)")
    ap.add_argument("--port", type=int, default=None, help="server port (default: a free one)")
    ap.add_argument("--serve", action=argparse.BooleanOptionalAction, default=None,
                    help="keep the server and the gates running until Ctrl-C "
                         "(default: yes on a terminal, no when output is piped, e.g. in CI)")
    args = ap.parse_args(argv)
    if args.serve is None:
        args.serve = sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("CI")
    mpcompat.install()
    mpcompat.add_firmware_path()
    from rich.table import Table

    con = crowd.console()
    t_start = time.perf_counter()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gatepass-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    now = int(time.time())

    con.rule("1. keys")
    issuer = keylib.generate()
    bundle_key = keylib.generate()
    pem, pub = keylib.write(issuer, out / "keys", "issuer", force=True)
    bpem, bpub = keylib.write(bundle_key, out / "keys", "bundle", force=True)
    con.print("pass issuer key %s: %s" % (issuer.kid.hex(), pem))
    con.print("bundle key      %s: %s" % (bundle_key.kid.hex(), bpem))

    con.rule("2. passes for the sample roster")
    rows = roster.load_roster(crowd.roster_path(), COMMUNITY, now=now)
    issued, pdf = roster.batch(issuer, rows, out / "passes")
    sizes = sorted(len(p.text) for p in issued)
    con.print("%d passes (%d..%d QR characters): QR codes %s/*.png|svg" % (len(issued), sizes[0], sizes[-1],
                                                                          out / "passes"))
    con.print("manifest %s" % (out / "passes" / "passes.csv"))
    con.print("cards    %s" % pdf)

    con.rule("3. every pass verified on MicroPython (device code, WebAssembly port)")
    ok_mp = True
    try:
        results, version = verify_on_micropython(issued, issuer, COMMUNITY, now)
    except Exception as e:  # noqa: BLE001 - report and fail the demo, do not hide why
        con.print("[red]MicroPython runtime unavailable: %s[/red] (run `make mpy-runtime`)" % e)
        results, version, ok_mp = [], (), False
    t = Table(box=None, header_style="bold")
    for col in ("pass", "role", "unit", "result", "ms"):
        t.add_column(col)
    from app import reasons  # noqa: E402 - firmware path added above

    for p, r, us in results:
        want = expected(p, now)
        good = r == want
        ok_mp &= good
        shown = reasons.name(r) if isinstance(r, int) else "valid"
        t.add_row(p.spec.cti.hex()[:8], p.spec.role_name, p.spec.unit_text, shown + ("" if good else "  << expected %s" % (
            reasons.name(want) if isinstance(want, int) else "valid")), "%.1f" % (us / 1000), style=None if good else "red")
    con.print(t)
    if results:
        con.print("MicroPython %s: %d/%d as issued" % (".".join(map(str, version[:3])),
                                                       sum(1 for p, r, _ in results if r == expected(p, now)), len(results)))

    con.rule("4. entrance + exit gates, real firmware on simulated boards, scripted crowd")
    res = crowd.play(con, issuer, bundle_key, COMMUNITY, now, issued, keep_flash=str(out / "flash"), pace_s=args.pace)
    con.rule("5. community server: gates upload over real HTTP, bundles and time come from it")
    from . import server as demoserver

    res_srv = demoserver.play(con, issuer, bundle_key, COMMUNITY, now, issued, out, n_gates=args.gates,
                              serve=args.serve, port=args.port, pace_s=args.pace)
    con.rule()
    con.print("gate flash (event logs, lists): %s" % (out / "flash"))
    con.print("demo output: %s  (%.1f s)" % (out, time.perf_counter() - t_start))
    good = ok_mp and res.ok and res_srv.ok
    con.print("[green]demo OK[/green]" if good else "[bold red]demo FAILED[/bold red]")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
