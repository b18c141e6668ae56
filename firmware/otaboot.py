"""The OTA boot path: which app set runs, trial boots and automatic rollback. Tiny, at the
filesystem root beside boot.py, and never replaced over the air.

    slot, state = otaboot.select("/")   # boot.py: puts /ota/<slot> first on sys.path
    otaboot.confirm("/")                # main.py, once the app has been healthy N minutes

App sets: the USB-deployed one at the root (slot ""), and update slots /ota/a, /ota/b,
each with app/ and drivers/ (app/release.py stages a release into the slot not in use).
State: /ota.json {"active": slot, "version": n, "trial": slot or "", "trial_version": n,
"boots": trial boots so far, "state": "usb" | "trial" | "confirmed" | "rolled_back",
"failed": the version rolled back}. Every change is one atomic replace of ota.json
(ota.json.tmp written, then renamed), so a power cut at any step leaves the old state or
the new one; the active set is never written while a trial runs.

select() at every boot: with a trial pending, count the boot first (persisted), then
run the trial set; after MAX_TRIAL_BOOTS boots without confirm() the trial is dropped and
the active set runs again, state "rolled_back" (the heartbeat's health.release reports it).
A damaged ota.json, or a slot whose directory is missing, selects the USB set: there is
always a bootable set.
"""
import json
import os

MAX_TRIAL_BOOTS = 3
STATE = "ota.json"
SLOTS = ("a", "b")


def _p(root, name):
    return root.rstrip("/") + "/" + name


def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False


def _default():
    return {"active": "", "version": 0, "trial": "", "trial_version": 0, "boots": 0, "state": "usb"}


def load(root):
    """The state (a fresh USB-set state when ota.json is missing or damaged)."""
    try:
        with open(_p(root, STATE)) as f:
            s = json.loads(f.read())
    except (OSError, ValueError):
        return _default()
    return s if isinstance(s, dict) else _default()


def save(root, s):
    tmp = _p(root, STATE + ".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(s))
        f.flush()
    os.rename(tmp, _p(root, STATE))


def _slot_ok(root, slot):
    return slot == "" or (slot in SLOTS and _isdir(_p(root, "ota/" + slot + "/app")))


def select(root="/"):
    """(slot to run, state dict) for this boot; persists the trial boot count first."""
    s = load(root)
    active = s.get("active", "")
    if not _slot_ok(root, active):
        active = ""
    trial = s.get("trial", "")
    if trial and _slot_ok(root, trial) and trial != active:
        boots = s.get("boots", 0)
        boots = boots + 1 if isinstance(boots, int) else MAX_TRIAL_BOOTS + 1
        if boots <= MAX_TRIAL_BOOTS:
            s["boots"] = boots
            s["state"] = "trial"
            save(root, s)  # counted before the new code runs: a crash still counts
            return trial, s
        s["failed"] = s.get("trial_version", 0)
        s["state"] = "rolled_back"
    elif trial:
        s["state"] = "rolled_back"  # the staged set vanished: nothing to try
    else:
        return active, s
    s["trial"] = ""
    s["boots"] = 0
    s["active"] = active
    save(root, s)
    return active, s


def begin_trial(root, slot, version):
    """A verified release is staged in `slot`: run it from the next boot on (the marker)."""
    if slot not in SLOTS:
        raise ValueError("slot must be a or b")
    s = load(root)
    if s.get("active", "") == slot:
        raise ValueError("slot %s is the running set" % slot)
    s["trial"] = slot
    s["trial_version"] = version
    s["boots"] = 0
    s["state"] = "staged"
    save(root, s)


def free_slot(root="/"):
    """The update slot that is neither active nor on trial."""
    s = load(root)
    used = (s.get("active", ""), s.get("trial", ""))
    for slot in SLOTS:
        if slot not in used:
            return slot
    return SLOTS[0]


def confirm(root="/"):
    """The trial set reached "healthy": it becomes the active set. False when no trial."""
    s = load(root)
    trial = s.get("trial", "")
    if not trial or s.get("state") != "trial":
        return False
    s["active"] = trial
    s["version"] = s.get("trial_version", 0)
    s["trial"] = ""
    s["boots"] = 0
    s["state"] = "confirmed"
    save(root, s)
    return True


def path_for(root, slot):
    """The sys.path entry of `slot` ("" = the USB set at the root: nothing to add)."""
    return _p(root, "ota/" + slot) if slot else None
