"""`gatepass provision`: the device config onto a board (gatepass.technician.provisioning.run)."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ..technician import provisioning as prov
from ._common import (BadInput, closing_on_error, connect, console, emit, finish, json_option, port_option,
                      restart_option, sayer)


@click.command("provision")
@port_option
@click.option("--device-id", help="Device id (1..32 characters), as registered on the server.")
@click.option("--community", help="Community id the gate belongs to.")
@click.option("--direction", type=click.Choice(["in", "out"]), help="Which way this gate lets people pass.")
@click.option("--gate", help="Gate name shown to staff (default: the device id).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None,
              help="What the gate's display shows: zh (Chinese, the default) or en (English).")
@click.option("--board", "board_name", help="Board profile name recorded in the config "
              "(default: the name in the board's /board.json).")
@click.option("--wifi-ssid", help="Wi-Fi network name.")
@click.option("--wifi-password", default=None, help="Wi-Fi password (prompted when --wifi-ssid is "
              "given without it; empty for an open network).")
@click.option("--server", "server_url", help="Community server URL (https://..., or http:// for a "
              "test server).")
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False),
              help="PEM file of the CA that signed the server certificate (required for https).")
@click.option("--register", is_flag=True, help="Register the device on the server, which makes its secret: "
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
@click.option("--firmware-key", "firmware_keys", multiple=True, help="Trusted firmware release key (OTA; "
              "same forms; never a pass issuer or bundle key). Repeatable.")
@click.option("--fragment", type=click.Path(exists=True, dir_okay=False), help="Config fragment JSON "
              "printed by `gatepass server device ...` (id, secret, community, keys).")
@click.option("--secret", default=None, help="Device secret in hex (default: 32 new random bytes, or "
              "the fragment's).")
@click.option("--keep-secret", is_flag=True, help="Keep the secret already on the board.")
@restart_option
@json_option
def command(port, device_id, community, direction, gate, lang, board_name, wifi_ssid, wifi_password,
            server_url, ca_file, register, staff_user, server_db, server_home, issuer_keys, bundle_keys,
            firmware_keys, fragment, secret, keep_secret, restart, as_json):
    """Write the device config: identity and secret, Wi-Fi, server and CA, trusted keys, gate and
    direction. Checked with the firmware's own validator first; written atomically; read back."""
    con = console(as_json)
    if wifi_ssid is not None and wifi_password is None:
        wifi_password = click.prompt("Wi-Fi password for %s (empty: open network)" % wifi_ssid,
                                     default="", hide_input=True, show_default=False)
    try:
        base = prov.load_fragment(fragment) if fragment else {}
        fields = dict(device_id=device_id, community=community, gate=gate, direction=direction, lang=lang,
                      wifi_ssid=wifi_ssid, wifi_password=wifi_password, server_url=server_url,
                      ca_pem=Path(ca_file).read_bytes() if ca_file else None,  # PEM or DER -> DER
                      issuer_keys=[prov.load_key(k) for k in issuer_keys],
                      bundle_keys=[prov.load_key(k) for k in bundle_keys],
                      firmware_keys=[prov.load_key(k) for k in firmware_keys])
        registration = None
        if register:
            if not server_url:
                raise prov.ProvisionError("--register needs --server URL")
            staff_password = None
            if not prov.uses_database(server_db, server_home, staff_user):
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
            registration = dict(server_url=server_url, db=server_db, home=server_home, staff_user=staff_user,
                                staff_password=staff_password, ca_file=ca_file)
    except prov.ProvisionError as e:
        raise BadInput(str(e)) from None
    dev = connect(port)
    # refused: the old config stays, the gate runs on with it
    with closing_on_error(dev, refused=prov.ProvisionError, restart=restart, as_error=BadInput):
        cfg, res = prov.run(dev, base, secret=secret, keep_secret=keep_secret, board=board_name,
                            register=registration, say=sayer(con), **fields)
    summ = prov.summary(cfg)
    if res["device_check"] is None:
        con.print("[yellow]note:[/yellow] no firmware on the board yet (gatepass deploy): checked on "
                  "this laptop only")
    elif res["device_check"] != summ:
        con.print("[yellow]warning:[/yellow] the board reads the config differently: %s" % res["device_check"])
    con.print("provisioned %s: %s" % (cfg["device_id"], ", ".join("%s=%s" % kv for kv in summ.items())))
    finish(dev, restart, con if not as_json else None)
    emit({"summary": summ, "device_check": res["device_check"]}, as_json)
