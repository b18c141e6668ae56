"""Technician commands: `gatepass flash | deploy | provision | device info | device selftest |
logs pull` (docs/technician.md). Each talks to the board over USB through mpremote's
transport (gatepass.technician.link) or esptool (gatepass.technician.flashing).

This module defines them all; commands/flash.py, deploy.py, provision.py and logs.py only
expose one each to the CLI's one-family-per-module registration. After a session the board
is soft-reset into the friendly REPL so the gate (main.py) runs again, unless --no-restart.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeRemainingColumn)

from ..technician import deploy as dep
from ..technician import flashing, logpull
from ..technician import provisioning as prov
from ..technician.link import Device, DeviceError, DeviceExecError


class BadInput(click.ClickException):
    exit_code = 2


def _out() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def _progress(**kw) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True, **kw)


def _bytes_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True)


port_option = click.option("--port", "-p", required=True, envvar="GATEPASS_PORT",
                           help="Serial port of the board (/dev/ttyUSB0, u0, a0, COM3, or a pyserial "
                                "URL such as socket://127.0.0.1:PORT); env GATEPASS_PORT.")
restart_option = click.option("--restart/--no-restart", default=True, show_default=True,
                              help="Soft-reset the board afterwards so the gate (main.py) runs again.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _connect(port: str) -> Device:
    try:
        return Device(port)
    except DeviceError as e:
        raise click.ClickException(str(e)) from None


def _finish(dev: Device, restart: bool, con: Console | None = None) -> str:
    out = dev.close(restart=restart)
    if con is not None and out.strip():
        con.print("[bold]board output after soft reset:[/bold]")
        con.print(out.rstrip(), markup=False)
    return out


def _device_error(e: Exception) -> click.ClickException:
    if isinstance(e, DeviceExecError):
        return click.ClickException("the board raised %s:\n%s" % (e.exc_type, e.traceback))
    return click.ClickException(str(e))


@contextlib.contextmanager
def _closing_on_error(dev: Device, refused: tuple = (), restart: bool = False,
                      as_error: type = click.ClickException):
    """Close the board session on any error leaving the block. An error in `refused` (the
    command's own refusal) closes with `restart` and becomes `as_error(str(e))`; a DeviceError
    becomes a ClickException carrying the board's traceback; anything else is re-raised.
    On success the command closes the session itself (it decides about the soft reset)."""
    try:
        yield dev
    except refused as e:
        dev.close(restart=restart)
        raise as_error(str(e)) from None
    except DeviceError as e:
        dev.close()
        raise _device_error(e) from None
    except BaseException:
        dev.close()
        raise


def _console(as_json: bool) -> Console:
    """Human output: stdout, or stderr when stdout carries the JSON result."""
    return _out() if not as_json else Console(file=sys.stderr, highlight=False)


def _track(prog: Progress, task):
    """A (done, total) progress callback updating `task` of `prog`."""
    return lambda d, t: prog.update(task, completed=d, total=t)


# ------------------------------------------------------------------------------- flash

@click.command("flash")
@click.option("--port", "-p", envvar="GATEPASS_PORT", help="Serial port of the board (not needed "
              "with --check-only).")
@click.option("--firmware", "firmware", required=True, type=click.Path(dir_okay=False),
              help="MicroPython .bin for the board (micropython.org/download, e.g. ESP32_GENERIC).")
@click.option("--chip", type=click.Choice(sorted(flashing.FLASH_OFFSET)),
              help="Expected chip: refuse another one; with --check-only, the chip to check for.")
@click.option("--baud", default=460800, show_default=True, help="Baud rate while writing.")
@click.option("--no-erase", is_flag=True, help="Do not erase the whole flash first (keeps the "
              "filesystem: config and event log survive).")
@click.option("--check-only", is_flag=True, help="Only check the file (no board needed).")
def flash_cmd(port, firmware, chip, baud, no_erase, check_only):
    """Write MicroPython onto an ESP32 (erase + write at 0x1000 on ESP32, 0 on S3/C3).

    The file is refused unless it is a complete MicroPython image for the detected chip.
    Erasing wipes the board's config and event log: pull the logs first (gatepass logs pull)."""
    con = _out()
    data = flashing.read_firmware(firmware) if Path(firmware).exists() else None
    if data is None:
        raise BadInput("cannot read %s" % firmware)
    if check_only:
        if not chip:
            raise BadInput("--check-only needs --chip")
        try:
            info = flashing.inspect_firmware(data, chip)
        except flashing.FirmwareError as e:
            raise click.ClickException("refused: %s" % e) from None
        con.print("ok: MicroPython %s (%s, ESP-IDF %s) for %s, written at 0x%x, %d bytes"
                  % (info["version"], info["project"], info["idf"], chip, info["offset"], info["size"]))
        return
    if not port:
        raise BadInput("--port is required (or --check-only)")
    try:
        with flashing.Flasher(port, baud) as f:
            if chip and f.chip != chip:
                raise flashing.FirmwareError("the board is %s, not %s" % (f.chip, chip))
            info = flashing.inspect_firmware(data, f.chip)
            con.print("%s detected: writing MicroPython %s at 0x%x%s"
                      % (f.chip, info["version"], info["offset"], "" if no_erase else " after a full erase"))
            f.write(data, info["offset"], erase=not no_erase)
    except flashing.FirmwareError as e:
        raise click.ClickException(str(e)) from None
    con.print("done: the board restarted into MicroPython. Next: gatepass deploy --port %s --board ..." % port)


# ------------------------------------------------------------------------------ deploy

@click.command("deploy")
@port_option
@click.option("--board", "board", required=True,
              help="Board profile: a name in boards/ (%s) or a JSON file." % ", ".join(dep.profile_names()))
@click.option("--mip/--no-mip", default=True, show_default=True,
              help="Install micropython-lib packages the profile needs (ssd1306 for a display); "
                   "needs network on this laptop.")
@click.option("--mip-index", default=None, help="Package index for mip (default micropython.org).")
@click.option("--force", is_flag=True, help="Copy every file even when the board has it.")
@click.option("--dry-run", is_flag=True, help="Only show what would be copied.")
@click.option("--source", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Firmware tree to deploy (default: this checkout's firmware/).")
@restart_option
@json_option
def deploy_cmd(port, board, mip, mip_index, force, dry_run, source, restart, as_json):
    """Compile firmware/ for the board and copy what changed; verify; restart the gate."""
    con = _console(as_json)
    try:
        profile = dep.load_profile(board)
        for w in dep.check_profile(profile):
            con.print("[yellow]warning:[/yellow] " + w)
    except dep.DeployError as e:
        raise BadInput(str(e)) from None
    try:
        cross = dep.mpy_cross_version()
    except dep.DeployError as e:
        raise click.ClickException(str(e)) from None
    dev = _connect(port)
    result = {"board": profile.get("name"), "copied": [], "unchanged": 0, "removed": [], "mip": None}
    with _closing_on_error(dev, refused=dep.DeployError):
        facts = dev.facts()
        con.print("board: MicroPython %s on %s, .mpy v%d.%d%s, %s free heap"
                  % (facts["version"], facts["machine"], facts["mpy"][0], facts["mpy"][1],
                     (" " + facts["mpy"][2]) if facts["mpy"][2] else "", _kb(facts["mem_free"])))
        note = dep.check_chip(profile, facts["machine"])
        if note:
            con.print("[yellow]note:[/yellow] " + note)
        dep.check_mpy(facts["mpy"], cross)
        with _progress() as prog:
            task = prog.add_task("compiling", total=len(dep.firmware_sources(source)))
            files = dep.build_firmware(profile, facts["mpy"], source,
                                       progress=_track(prog, task))
        plan = dep.make_plan(dev, files)
        copy = sorted(files) if force else plan.copy
        result["unchanged"] = len(files) - len(copy)
        total = sum(len(files[p]) for p in copy)
        con.print("%d file(s) to copy (%s), %d unchanged, %d stale to remove"
                  % (len(copy), _kb(total), result["unchanged"], len(plan.stale)))
        if dry_run:
            for p in copy:
                con.print("  would copy " + p)
            for p in plan.stale:
                con.print("  would remove " + p)
            result["copied"] = copy
            result["removed"] = plan.stale
            _finish(dev, restart)
            _emit(result, as_json)
            return
        dirs = sorted({p.rsplit("/", 1)[0] for p in copy if p.count("/") > 1})
        for d in dirs:
            dev.makedirs(d)
        with _bytes_progress() as prog:
            task = prog.add_task("copying", total=total or 1)
            done = 0
            for p in copy:
                base = done
                prog.update(task, description="copying " + p)
                dev.write(p, files[p], progress=lambda n, _t, b=base: prog.update(task, completed=b + n))
                done += len(files[p])
        result["copied"] = copy
        for p in plan.stale:
            dev.remove(p)
        result["removed"] = plan.stale
        if dep.needs_display_driver(profile):
            result["mip"] = _mip(dev, con, mip, mip_index)
        # verify: every byte on the board as built, and the modules import in a clean interpreter
        bad = [p for p, h in dev.hashes(sorted(files)).items() if h != hashlib.sha256(files[p]).hexdigest()]
        if bad:
            raise click.ClickException("verify failed, the board's copy differs: %s (deploy again)"
                                       % ", ".join(bad))
        dev.fresh()
        have_pins = dev.eval("hasattr(__import__('machine'), 'Pin')") if facts.get("uid") else False
        mods = dep.modules_to_verify(files, bool(have_pins))
        failed, free, alloc = _literal(dev.exec(dep.VERIFY_CODE % (mods,), timeout=120))
        if failed:
            raise click.ClickException("deployed modules do not import on the board:\n  %s"
                                       % "\n  ".join("%s: %s" % f for f in failed))
        result["verified_modules"] = len(mods)
        result["mem_free_after_import"] = free
        result["mem_alloc_after_import"] = alloc
        stamp = json.loads(files[dep.STAMP_PATH])
        result["build"] = stamp["build"]
        con.print("verified: %d file(s) match, %d module(s) import; heap after importing them: %s "
                  "used, %s free" % (len(files), len(mods), _kb(alloc), _kb(free)))
    banner = _finish(dev, restart, con if not as_json else None)
    result["boot_output"] = banner
    con.print("deploy: %d copied, %d unchanged, %d removed, build %s"
              % (len(result["copied"]), result["unchanged"], len(result["removed"]), result["build"]))
    _emit(result, as_json)


def _literal(text: str):
    import ast

    return ast.literal_eval(text.strip())


def _mip(dev, con, mip: bool, index: str | None) -> str:
    have = dev.hashes([dep.LIB_DIR + "/ssd1306.mpy", dep.LIB_DIR + "/ssd1306.py"])
    if any(have.values()):
        return "present"
    if not mip:
        con.print("[yellow]note:[/yellow] the profile has an SSD1306 display but /lib has no ssd1306 "
                  "driver and --no-mip was given: the display stays blank (the gate reports it as a "
                  "fault) until `mpremote mip install ssd1306` is run with network")
        return "skipped"
    con.print("installing ssd1306 (mip) ...")
    with contextlib.redirect_stdout(sys.stderr):  # mpremote's mip prints its progress
        dep.mip_install(dev, "ssd1306", index)
    return "installed"


def _emit(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=1, sort_keys=True))


def _kb(n) -> str:
    if n is None:
        return "?"
    return "%.1f KB" % (n / 1024) if n < 10 * 1024 * 1024 else "%.0f MB" % (n / 1048576)


# --------------------------------------------------------------------------- provision

@click.command("provision")
@port_option
@click.option("--device-id", help="Device id (1..32 characters), as registered on the server.")
@click.option("--community", help="Community id the gate belongs to.")
@click.option("--direction", type=click.Choice(["in", "out"]), help="Which way this gate lets people pass.")
@click.option("--gate", help="Gate name shown to staff (default: the device id).")
@click.option("--board", "board_name", help="Board profile name recorded in the config "
              "(default: the name in the board's /board.json).")
@click.option("--wifi-ssid", help="Wi-Fi network name.")
@click.option("--wifi-password", default=None, help="Wi-Fi password (prompted when --wifi-ssid is "
              "given without it; empty for an open network).")
@click.option("--server", "server_url", help="Community server URL (https://..., or http:// for a "
              "test server).")
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False),
              help="PEM file of the CA that signed the server certificate (required for https).")
@click.option("--register", is_flag=True, help="Register the device and its new secret on the server: "
              "over HTTP with --staff-user (password from GATEPASS_STAFF_PASSWORD or prompted), or "
              "through the server database (--server-db/--server-home, or run on the server).")
@click.option("--staff-user", envvar="GATEPASS_STAFF_USER", default=None, help="With --register: staff "
              "account on the server (HTTP Basic over --server; use https with --ca).")
@click.option("--server-db", default=None, help="With --register: the server's DATABASE_URL or SQLite path.")
@click.option("--server-home", default=None, help="With --register: the server's data directory.")
@click.option("--issuer-key", "issuer_keys", multiple=True, help="Trusted pass issuer public key: a "
              "<kid>.pub.json from `gatepass keys new`, or inline JSON. Repeatable.")
@click.option("--bundle-key", "bundle_keys", multiple=True, help="Trusted bundle signing key (same "
              "forms). Repeatable.")
@click.option("--fragment", type=click.Path(exists=True, dir_okay=False), help="Config fragment JSON "
              "printed by `gatepass server device ...` (id, secret, community, keys).")
@click.option("--secret", default=None, help="Device secret in hex (default: 32 new random bytes, or "
              "the fragment's).")
@click.option("--keep-secret", is_flag=True, help="Keep the secret already on the board.")
@restart_option
@json_option
def provision_cmd(port, device_id, community, direction, gate, board_name, wifi_ssid, wifi_password,
                  server_url, ca_file, register, staff_user, server_db, server_home, issuer_keys, bundle_keys,
                  fragment, secret, keep_secret, restart, as_json):
    """Write the device config: identity and secret, Wi-Fi, server and CA, trusted keys, gate and
    direction. Checked with the firmware's own validator first; written atomically; read back."""
    con = _console(as_json)
    if wifi_ssid is not None and wifi_password is None:
        wifi_password = click.prompt("Wi-Fi password for %s (empty: open network)" % wifi_ssid,
                                     default="", hide_input=True, show_default=False)
    try:
        base = prov.load_fragment(fragment) if fragment else {}
        ikeys = [prov.load_key(k) for k in issuer_keys]
        bkeys = [prov.load_key(k) for k in bundle_keys]
        ca = Path(ca_file).read_text() if ca_file else None
        if register and not server_url:
            raise prov.ProvisionError("--register needs --server URL")
        staff_password = None
        if register and not prov.uses_database(server_db, server_home, staff_user):
            if not staff_user:
                raise prov.unavailable()
            staff_password = os.environ.get("GATEPASS_STAFF_PASSWORD")
            if staff_password is None:
                try:
                    staff_password = click.prompt("Server password for staff %s" % staff_user,
                                                  hide_input=True, err=True)
                except click.Abort:
                    raise prov.ProvisionError("--register --staff-user %s: no password (set "
                                              "GATEPASS_STAFF_PASSWORD for a non-interactive run)"
                                              % staff_user) from None
    except prov.ProvisionError as e:
        raise BadInput(str(e)) from None
    dev = _connect(port)
    # refused: the old config stays, the gate runs on with it
    with _closing_on_error(dev, refused=prov.ProvisionError, restart=restart, as_error=BadInput):
        current = prov.read_config(dev)
        if keep_secret:
            if not current or not current.get("secret"):
                raise prov.ProvisionError("--keep-secret: the board has no config with a secret")
            secret = current["secret"]
        if board_name is None and "board" not in base:
            size = dev.size(dep.BOARD_PATH)
            if size:
                try:
                    board_name = json.loads(dev.read(dep.BOARD_PATH)).get("name")
                except ValueError:
                    board_name = None
        cfg = prov.build_config(base, device_id=device_id, secret=secret, community=community, gate=gate,
                                direction=direction, board=board_name, wifi_ssid=wifi_ssid,
                                wifi_password=wifi_password, server_url=server_url, ca_pem=ca,
                                issuer_keys=ikeys, bundle_keys=bkeys)
        if register:
            # the registration returns the community's trusted keys: validate after merging them
            frag = prov.register_device(cfg.get("device_id"), cfg.get("community"),
                                        cfg.get("gate") or cfg.get("device_id"), cfg.get("direction"),
                                        cfg["secret"], server_url, db=server_db, home=server_home,
                                        staff_user=staff_user, staff_password=staff_password,
                                        ca_file=ca_file)
            cfg = prov.build_config(cfg, issuer_keys=frag.get("issuer_keys") or (),
                                    bundle_keys=frag.get("bundle_keys") or ())
            con.print("registered %s on the server" % cfg["device_id"])
        else:
            prov.validate(cfg)
        try:
            res = prov.write_config(dev, cfg)
        except (prov.ProvisionError, DeviceError):
            if register:
                # the server knows the new secret now: keep it for a re-run with --fragment
                saved = Path("%s.provision.json" % cfg["device_id"])
                saved.write_text(json.dumps(cfg))
                saved.chmod(0o600)
                con.print("[red]the device is registered but the board was not written:[/red] run "
                          "gatepass provision --port %s --fragment %s" % (port, saved))
            raise
    summ = prov.summary(cfg)
    if res["device_check"] is None:
        con.print("[yellow]note:[/yellow] no firmware on the board yet (gatepass deploy): checked on "
                  "this laptop only")
    elif res["device_check"] != summ:
        con.print("[yellow]warning:[/yellow] the board reads the config differently: %s" % res["device_check"])
    con.print("provisioned %s: %s" % (cfg["device_id"], ", ".join("%s=%s" % kv for kv in summ.items())))
    _finish(dev, restart, con if not as_json else None)
    _emit({"summary": summ, "device_check": res["device_check"]}, as_json)


# ------------------------------------------------------------------------- device info

@click.group("device")
def command() -> None:
    """Look at a gate device over USB: versions, config, health, hardware self-test."""


_LOGSTAT = """\
import os, struct, binascii
def _gp_log(d):
    try:
        names = sorted([e[0] for e in os.ilistdir(d)])
    except OSError:
        return None
    segs = [n for n in names if n.endswith('.seg') and len(n) == 12]
    r = {'segments': len(segs), 'bytes': 0, 'next_seq': 1, 'acked': None, 'dropped': None}
    for n in segs:
        r['bytes'] += os.stat(d + '/' + n)[6]
    if segs:
        r['next_seq'] = int(segs[-1][:8], 16) + os.stat(d + '/' + segs[-1])[6] // 32
    try:
        with open(d + '/cursor', 'rb') as f:
            c = f.read()
        if len(c) == 20 and struct.unpack('<I', c[16:])[0] == binascii.crc32(c[:16]):
            r['acked'], r['dropped'] = struct.unpack('<II', c[:8])
    except OSError:
        pass
    return r
print(repr(_gp_log(%r)))
del _gp_log
"""


def gather_info(dev: Device, log_dir: str = logpull.LOG_DIR) -> dict:
    info = {"device": dev.facts()}
    for key, path in (("firmware", dep.STAMP_PATH), ("board", dep.BOARD_PATH)):
        info[key] = None
        if dev.size(path):
            try:
                info[key] = json.loads(dev.read(path))
            except ValueError:
                info[key] = "unreadable"
    cfg = prov.read_config(dev)
    if cfg is None:
        info["config"] = None
    else:
        try:
            info["config"] = prov.summary(cfg)
        except prov.ProvisionError as e:
            info["config"] = {"error": str(e)}
    log = _literal(dev.exec(_LOGSTAT % log_dir))
    if log and log["acked"] is not None:
        log["backlog"] = max(0, log["next_seq"] - 1 - log["acked"])
    info["log"] = log
    return info


@command.command("info")
@port_option
@click.option("--log-dir", default=logpull.LOG_DIR, show_default=True)
@restart_option
@json_option
def info_cmd(port, log_dir, restart, as_json):
    """Versions, config summary (no secrets), free heap and flash, event log backlog."""
    dev = _connect(port)
    with _closing_on_error(dev):
        info = gather_info(dev, log_dir)
    dev.close(restart=restart)
    if as_json:
        _emit(info, as_json)
        return
    con = _out()
    d = info["device"]
    con.print("MicroPython %s (%s) on %s, .mpy v%d.%d %s" % (d["version"], d["release"], d["machine"],
                                                             d["mpy"][0], d["mpy"][1], d["mpy"][2]))
    con.print("unique id %s, heap %s free / %s used, flash %s free of %s"
              % (d.get("uid") or "?", _kb(d["mem_free"]), _kb(d["mem_alloc"]), _kb(d.get("fs_free")),
                 _kb(d.get("fs_total"))))
    fwi = info["firmware"]
    con.print("firmware: " + ("not deployed (gatepass deploy)" if not fwi else
                              "gatepass %s build %s for %s" % (fwi.get("version"), fwi.get("build"), fwi.get("board"))))
    c = info["config"]
    if c is None:
        con.print("config: none (gatepass provision)")
    elif "error" in c:
        con.print("config: [red]%s[/red]" % c["error"])
    else:
        con.print("config: " + ", ".join("%s=%s" % kv for kv in c.items()))
    lg = info["log"]
    if not lg:
        con.print("event log: none yet (%s)" % log_dir)
    else:
        con.print("event log: %d segment(s), %s, next seq %d, acknowledged %s, backlog %s, dropped %s"
                  % (lg["segments"], _kb(lg["bytes"]), lg["next_seq"], lg["acked"], lg.get("backlog"),
                     lg["dropped"]))


_SELFTEST = """\
import time
_gp_r = []
def _gp(name, ok, detail):
    _gp_r.append((name, ok, detail))
def _gp_main(relay_ms):
    try:
        import machine
    except ImportError:
        _gp('hardware', None, 'no machine module on this board (emulator or unsupported port)')
        return
    missing = [n for n in ('Pin', 'I2C', 'UART') if not hasattr(machine, n)]
    if missing:
        _gp('hardware', None, 'no machine/I2C: machine.%%s missing on this board (REPL bridge or an '
            'emulator: nothing wired to test)' %% '/'.join(missing))
        return
    try:
        from app import board
        prof = board.load('/board.json')
    except Exception as e:
        _gp('board', False, 'no valid /board.json (%%s): run gatepass deploy' %% e)
        return
    from drivers import devices
    try:
        dev = devices.build(prof, configure_scanner=False)
    except Exception as e:
        _gp('build', False, 'building the devices failed: %%s: %%s' %% (type(e).__name__, e))
        return
    for name, msg in dev.faults:
        _gp(name, False, msg)
    if dev.sensor is not None:
        try:
            o, a = dev.sensor.read()
            _gp('thermometer', True, 'object %%.2f C, ambient %%.2f C (I2C scan: %%s)' %% (
                o, a, ', '.join(['0x%%02x' %% x for x in dev.i2c.scan()])))
        except Exception as e:
            _gp('thermometer', False, '%%s: %%s' %% (type(e).__name__, e))
    try:
        from drivers import qrscanner
        z = dev.scanner.read_zone(qrscanner.ZONE_MODE)
        _gp('scanner', True, 'GM65 answered (scan mode zone 0x0000 = 0x%%02x)' %% z)
    except Exception as e:
        _gp('scanner', False, '%%s: %%s' %% (type(e).__name__, e))
    try:
        _gp('door', True, 'contact reads %%s' %% ('open' if dev.door.is_open else 'closed'))
    except Exception as e:
        _gp('door', False, '%%s: %%s' %% (type(e).__name__, e))
    r = dev.relay
    if relay_ms:
        pin = r._pin
        r.unlock(relay_ms)
        on = pin.value()
        time.sleep_ms(relay_ms)
        r.lock()
        off = pin.value()
        ok = on == r.unlock_level and off == 1 - r.unlock_level
        _gp('relay', ok, 'pulsed GPIO%%d for %%d ms: read back unlocked=%%d locked=%%d (unlock level %%d)'
            %% (prof['relay']['pin'], relay_ms, on, off, r.unlock_level))
    else:
        _gp('relay', None, 'not pulsed (use --relay)')
_gp_main(%d)
print(repr(_gp_r))
"""


@command.command("selftest")
@port_option
@click.option("--relay", is_flag=True, help="Also pulse the door relay (the door unlocks!).")
@click.option("--relay-ms", default=1000, show_default=True, type=click.IntRange(100, 10000))
@click.option("--yes", is_flag=True, help="Do not ask before pulsing the relay.")
@restart_option
@json_option
def selftest_cmd(port, relay, relay_ms, yes, restart, as_json):
    """Read the thermometer, ping the scanner, read the door contact; pulse the relay only with
    --relay (confirmed). Uses the firmware's own drivers and the board's /board.json."""
    if relay and not yes:
        click.confirm("This unlocks the door for %.1f s. Pulse the relay?" % (relay_ms / 1000), abort=True)
    dev = _connect(port)
    with _closing_on_error(dev):
        results = _literal(dev.exec(_SELFTEST % (relay_ms if relay else 0), timeout=60))
    dev.close(restart=restart)
    if as_json:
        click.echo(json.dumps([{"check": n, "ok": ok, "detail": d} for n, ok, d in results], indent=1))
    else:
        con = _out()
        for name, ok, detail in results:
            mark = {True: "[green]ok  [/green]", False: "[red]FAIL[/red]", None: "[yellow]n/a [/yellow]"}[ok]
            con.print("%s %-12s %s" % (mark, name, detail))
    failed = [n for n, ok, _ in results if ok is False]
    unavailable = [n for n, ok, _ in results if ok is None and n == "hardware"]
    if failed:
        raise click.ClickException("self-test failed: " + ", ".join(failed))
    if unavailable:
        raise click.ClickException("self-test could not test any hardware on this board")


# ----------------------------------------------------------------------------- logs pull

@click.group("logs")
def logs_group() -> None:
    """The gate's event log over USB (when its Wi-Fi is down)."""


@logs_group.command("pull")
@port_option
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write the decoded "
              "records to FILE.csv or FILE.json.")
@click.option("--raw", "raw_file", type=click.Path(dir_okay=False), help="Write the valid records "
              "as stored (32 bytes each, seq order).")
@click.option("--forward", "forward_url", default=None, help="Also upload them to this server "
              "with the device's own credentials (idempotent with its Wi-Fi uploads).")
@click.option("--log-dir", default=logpull.LOG_DIR, show_default=True)
@restart_option
@json_option
def pull_cmd(port, out_file, raw_file, forward_url, log_dir, restart, as_json):
    """Copy the event log off the board, check every record's CRC, decode (reason codes spelled
    out), report torn/corrupt/dropped records, and optionally forward to the server."""
    if out_file and not out_file.endswith((".csv", ".json")):
        raise BadInput("--out must end in .csv or .json")
    con = _console(as_json)
    dev = _connect(port)
    with _closing_on_error(dev, refused=logpull.LogError, restart=restart):
        facts = dev.facts()
        cfg = prov.read_config(dev) if forward_url else None
        with _bytes_progress() as prog:
            task = prog.add_task("reading log", total=None)
            files = logpull.pull(dev, log_dir, progress=_track(prog, task))
    dev.close(restart=restart)
    rep = logpull.analyse(files)
    seqs = [d["seq"] for _, d in rep.records]
    con.print("%d record(s)%s from %d segment(s), %s" % (
        len(rep.records), (" seq %d..%d" % (seqs[0], seqs[-1])) if seqs else "", len(rep.segments),
        "cursor: acknowledged %d, dropped %d" % (rep.cursor["acked"], rep.cursor["dropped"])
        if rep.cursor else "no valid cursor"))
    for p in rep.problems:
        con.print("[yellow]%s:[/yellow] %s" % (p["kind"], p["detail"]))
    device = {"uid": facts.get("uid")}
    if out_file:
        text = logpull.to_csv(rep) if out_file.endswith(".csv") else logpull.to_json(rep, device)
        Path(out_file).write_text(text)
        con.print("wrote %s" % out_file)
    if raw_file:
        Path(raw_file).write_bytes(rep.raw)
        con.print("wrote %s (%d bytes)" % (raw_file, len(rep.raw)))
    fwd = None
    if forward_url:
        if not cfg or not cfg.get("device_id") or not cfg.get("secret"):
            raise click.ClickException("cannot forward: the board has no provisioned config with its "
                                       "device id and secret")
        try:
            with _progress() as prog:
                task = prog.add_task("forwarding", total=len(rep.records))
                fwd = logpull.forward(rep, forward_url, cfg["device_id"], cfg["secret"],
                                      progress=_track(prog, task))
        except logpull.LogError as e:
            raise click.ClickException("forward failed: %s" % e) from None
        con.print("forwarded to %s: %d stored, %d already there, %d rejected; server holds up to seq %d"
                  % (forward_url, fwd["stored"], fwd["duplicates"], fwd["rejected"], fwd["acked_seq"]))
    if as_json:
        click.echo(json.dumps({"records": len(rep.records), "first": seqs[0] if seqs else None,
                               "last": seqs[-1] if seqs else None, "problems": rep.problems,
                               "cursor": rep.cursor, "forward": fwd}, indent=1))
