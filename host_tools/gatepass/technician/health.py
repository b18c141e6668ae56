"""What `gatepass device info` and `device selftest` find on a board: versions, config
summary, event log backlog; the hardware self-test. The parts that run on the board are
real MicroPython files in onboard/ (compiled and type-checked with the firmware)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

from . import provisioning as prov
from .deploy import BOARD_PATH, STAMP_PATH
from .logpull import LOG_DIR, parse_cursor

ONBOARD = Path(__file__).resolve().parent / "onboard"


def onboard(dev, script: str, call: str, timeout: float | None = None):
    """Run onboard/<script>.py on the board, then `call` (an expression); its repr back as a
    Python literal."""
    src = (ONBOARD / (script + ".py")).read_text()
    code = "%s\nprint(repr(%s))\n" % (src, call)
    out = dev.exec(code, timeout=timeout) if timeout is not None else dev.exec(code)
    return ast.literal_eval(out.strip())


def info(dev, log_dir: str = LOG_DIR) -> dict:
    """{"device": facts, "firmware": stamp, "board": profile, "config": summary, "log": stat}."""
    out = {"device": dev.facts()}
    for key, path in (("firmware", STAMP_PATH), ("board", BOARD_PATH)):
        out[key] = None
        if dev.size(path):
            try:
                out[key] = json.loads(dev.read(path))
            except ValueError:
                out[key] = "unreadable"
    cfg = prov.read_config(dev)
    if cfg is None:
        out["config"] = None
    else:
        try:
            out["config"] = prov.summary(cfg)
        except prov.ProvisionError as e:
            out["config"] = {"error": str(e)}
    out["log"] = log_figures(onboard(dev, "logstat", "log_stat(%r)" % log_dir))
    return out


def log_figures(stat: dict | None) -> dict | None:
    """onboard/logstat.py's answer with its raw cursor decoded by the firmware's reader
    (logpull.parse_cursor -> app/eventlog.parse_cursor): acked, dropped, pending_lost
    (None when the cursor is missing or damaged) and the backlog."""
    if not stat:
        return stat
    out = dict(stat)
    raw = out.pop("cursor", None)
    c = parse_cursor(raw) if raw is not None else None
    for k in ("acked", "dropped", "pending_lost"):
        out[k] = c[k] if c is not None else None
    if c is not None:
        out["backlog"] = max(0, out["next_seq"] - 1 - c["acked"])
    return out


def selftest(dev, relay_ms: int = 0) -> list[tuple[str, bool | None, str]]:
    """[(check, ok, detail)]: thermometer, scanner, door contact, and the relay when
    relay_ms > 0 (the door unlocks for that long). ok None: not tested."""
    return [tuple(r) for r in onboard(dev, "selftest", "selftest(%d)" % relay_ms, timeout=60)]
