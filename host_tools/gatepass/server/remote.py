"""Remote commands for gates: staff issue them, heartbeat answers carry them, signed.

issue(device, kind, user) makes the next command of the device (seq = the highest so far
+ 1, valid TTL_S). pending(device) is what the next heartbeat answer carries: the
commands not yet reported done and not expired, each signed with the device secret over
("cmd", device id, seq, kind, exp, by) -- firmware/app/remote.py checks the same bytes.
acknowledge(device, cmd_seq) marks done what the device reports it has accepted (its
heartbeat's cmd_seq). The answer itself is HMAC-signed and bound to the heartbeat's
signature; the per-command signature, the increasing seq, the device id and the expiry
make each command stand alone: bound to one gate, time-limited, and never run twice.

The device logs every command, run or refused, as a `remote` event with the seq and the
staff user id (`by`); the RemoteCommand row keeps who asked by name.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from . import dblock
from .models import Device, RemoteCommand

TTL_S = 300  # a command not delivered within 5 minutes is dropped (device limit: 900 s)
MAX_PENDING = 8  # what one answer carries (firmware: MAX_PER_ANSWER)


def mac_text(device_id: str, seq: int, kind: str, exp: int, by: int) -> bytes:
    return ("cmd\n%s\n%d\n%s\n%d\n%d" % (device_id, seq, kind, exp, by)).encode()


def sign(secret: bytes, device_id: str, seq: int, kind: str, exp: int, by: int) -> str:
    return hmac.new(secret, mac_text(device_id, seq, kind, exp, by), hashlib.sha256).hexdigest()


def issue(device: Device, kind: str, user=None, ttl_s: int = TTL_S) -> RemoteCommand:
    if kind not in RemoteCommand.KINDS:
        raise ValueError("unknown command %r (one of %s)" % (kind, ", ".join(RemoteCommand.KINDS)))
    now = timezone.now()
    with dblock.writer(), transaction.atomic():
        Device.objects.select_for_update().filter(pk=device.pk).first()  # serialize the seq
        top = RemoteCommand.objects.filter(device=device).aggregate(m=Max("seq"))["m"] or 0
        seq = max(top, Device.objects.filter(pk=device.pk).values_list("cmd_seq", flat=True)[0]) + 1
        return RemoteCommand.objects.create(device=device, seq=seq, kind=kind, created_by=user, created_at=now,
                                            expires_at=now + dt.timedelta(seconds=ttl_s))


def _by(c: RemoteCommand) -> int:
    return c.created_by_id or 0


def wire(device: Device, c: RemoteCommand) -> dict:
    exp = int(c.expires_at.timestamp())
    return {"seq": c.seq, "kind": c.kind, "exp": exp, "by": _by(c),
            "sig": sign(device.secret_bytes, device.pk, c.seq, c.kind, exp, _by(c))}


def acknowledge(device: Device, cmd_seq) -> None:
    """The device's heartbeat says it accepted every command up to cmd_seq."""
    if not isinstance(cmd_seq, int) or isinstance(cmd_seq, bool) or cmd_seq < 0:
        return
    now = timezone.now()
    Device.objects.filter(pk=device.pk).update(cmd_seq=cmd_seq)
    RemoteCommand.objects.filter(device=device, seq__lte=cmd_seq, done_at__isnull=True).update(done_at=now)


def pending(device: Device, cmd_seq=None) -> list[dict]:
    """The signed commands for this heartbeat answer (oldest first)."""
    now = timezone.now()
    qs = RemoteCommand.objects.filter(device=device, done_at__isnull=True, expires_at__gt=now)
    if isinstance(cmd_seq, int) and not isinstance(cmd_seq, bool):
        qs = qs.filter(seq__gt=cmd_seq)
    cmds = list(qs.order_by("seq")[:MAX_PENDING])
    if not cmds:
        return []
    RemoteCommand.objects.filter(pk__in=[c.pk for c in cmds], delivered_at__isnull=True).update(delivered_at=now)
    return [wire(device, c) for c in cmds]
