"""What the staff pages call the firmware's codes, in the reader's language (one source).

The texts are the firmware's own tables: reason messages in English and Chinese as the
gate shows them (app/reasons.py); event kinds (app/record.py), role names (app/roles.py)
and mode names (app/settings.py) in English, translated by entries of the server's
message catalog with a context per table (i18n.firmware_msgids puts them there,
tests/server/test_server_i18n.py checks every code has one). Nothing here repeats a table.
"""
from __future__ import annotations

from django.utils.functional import lazy
from django.utils.translation import get_language, gettext, gettext_lazy, gettext_noop, pgettext, pgettext_lazy

from ..mp.fw import reasons, record, roles, settings as fw_settings

# texts of Django's own admin that its Simplified Chinese catalog lacks (Django 5.2):
# translated in ours so the admin has no English left
DJANGO_GAPS = (
    gettext_noop("Model name"), gettext_noop("Add link"), gettext_noop("Change or view list link"),
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."), gettext_noop("Error:"),
    gettext_noop(":"),  # forms' label suffix: a full-width colon after a Chinese label
)

ALERT_KINDS = ("fever", "urgent", "alarm", "door_forced", "log_near_full", "dropped", "offline", "log_restarted",
               "conflict")


def _plain(ctx: str, msgid: str) -> str:
    text = pgettext(ctx, msgid)
    # untranslated identifiers (English pages) read as words
    return text.replace("_", " ") if text == msgid else text


# what each community mode (firmware settings.MODES order) means at the gate
MODE_HELP = (gettext_lazy("normal checks"), gettext_lazy("residents stay in"),
             gettext_lazy("nobody out but exempt roles"))


def mode_help() -> list[dict]:
    return [{"mode": m, "name": mode_text(m), "help": h} for m, h in enumerate(MODE_HELP)]


def reason_text(code: int) -> str:
    """The reason code's message exactly as the gate shows it in the page's language, e.g.
    'Pass expired' / '通行证已过期' (firmware/app/reasons.py holds both: the gate, the
    voice prompts and the pages read one table)."""
    if code not in reasons._NAMES:
        return "R%d" % code
    return reasons.message(code, "zh" if (get_language() or "").startswith("zh") else "en")


def reason_label(code: int) -> str:
    """Code, message and stable name: what staff search and read in lists."""
    return "%d %s" % (code, reason_text(code))


def kind_text(kind: int) -> str:
    name = record.KIND_NAMES.get(kind)
    return _plain("event kind", name) if name else "k%d" % kind


def alert_text(kind: str) -> str:
    return _plain("alert", kind) if kind in ALERT_KINDS else kind


def role_text(role: int | None) -> str:
    if role is None:
        return ""
    return pgettext("role", roles.NAMES[role]) if 0 <= role < len(roles.NAMES) else "role%d" % role


def mode_text(mode: int) -> str:
    return pgettext("mode", fw_settings.MODES[mode]) if 0 <= mode < len(fw_settings.MODES) else str(mode)


def direction_text(d: int) -> str:
    return {1: pgettext("direction", "in"), 2: pgettext("direction", "out")}.get(d, "")


def unit_text(building: int, entrance: int = 0, room: int = 0) -> str:
    """A home unit, an entrance or a whole building (quarantines name all three)."""
    if entrance == 0:
        return gettext("building %(building)d") % {"building": building}
    if room == 0:
        return gettext("building %(building)d entrance %(entrance)d") % {"building": building, "entrance": entrance}
    return "%d-%d-%d" % (building, entrance, room)


# the record's flag bits (firmware app/record.py F_*) as staff read them; allowed and the
# direction have their own columns, a clock the gate could not trust is said when the bit is OFF
FLAG_WORDS = ((record.F_URGENT, pgettext_lazy("flag", "urgent")), (record.F_ALARM, pgettext_lazy("flag", "alarm sounded")),
              (record.F_FLAGGED, pgettext_lazy("flag", "allowed with a warning")))


def flag_words(flags: int, kind: int | None = None) -> list[str]:
    """An event's flags as words in the reader's language, e.g. ['urgent', 'alarm sounded',
    'clock not trusted'] (never the bits)."""
    out = [str(w) for bit, w in FLAG_WORDS if flags & bit]
    if not flags & record.F_TIME_TRUSTED:
        out.append(pgettext("flag", "clock not trusted"))
    return out


def words_text(words) -> str:
    """A list of words as the reader writes one: 紧急、已报警 / urgent, alarm sounded."""
    return ("、" if (get_language() or "").startswith("zh") else ", ").join(str(w) for w in words)


def gate_text(gate: str, direction: int) -> str:
    """A device as staff name it: its gate and direction, e.g. 'North gate · in' / '北门 · 进'."""
    d = direction_text(direction)
    return "%s · %s" % (gate, d) if d else gate


# remote commands (server/remote.py): what the button says, what the message says it does
COMMAND_BUTTONS = {"open": pgettext_lazy("command", "open"), "lockdown": pgettext_lazy("command", "lockdown"),
                   "lockdown_off": pgettext_lazy("command", "lockdown off"),
                   "release": pgettext_lazy("command", "release"),
                   "release_off": pgettext_lazy("command", "release off"),
                   "reboot": pgettext_lazy("command", "reboot")}
COMMAND_TEXT = {"open": gettext_lazy("open the door once"), "lockdown": gettext_lazy("lock down (only exempt roles pass)"),
                "lockdown_off": gettext_lazy("end the lockdown"),
                "release": gettext_lazy("EMERGENCY RELEASE (door unlocked until ended)"),
                "release_off": gettext_lazy("end the emergency release"), "reboot": gettext_lazy("reboot")}
COMMAND_STATES = {"done": pgettext_lazy("command state", "done"), "expired": pgettext_lazy("command state", "expired"),
                  "sent": pgettext_lazy("command state", "sent"), "pending": pgettext_lazy("command state", "pending")}


def command_button(kind: str) -> str:
    return str(COMMAND_BUTTONS.get(kind, kind))


def command_text(kind: str) -> str:
    return str(COMMAND_TEXT.get(kind, kind))


def command_state(state: str) -> str:
    return str(COMMAND_STATES.get(state, state))


# OTA (docs/ota.md): what a gate reports of its release (heartbeat health.release) and
# how far a rollout target got; the Releases and devices pages read these tables
RELEASE_STATES = {
    "usb": gettext_lazy("USB-deployed set"), "downloading": gettext_lazy("downloading"),
    "failed": gettext_lazy("refused a release"), "staged": gettext_lazy("staged, switching"),
    "trial": gettext_lazy("on trial"), "confirmed": gettext_lazy("confirmed"), "rolled_back": gettext_lazy("rolled back"),
}
ROLLOUT_TARGET_STATES = {
    "": gettext_lazy("waiting"), "offered": gettext_lazy("offered"), "downloading": gettext_lazy("downloading"),
    "failed": gettext_lazy("refused by the gate (retrying)"), "staged": gettext_lazy("staged, switching"),
    "trial": gettext_lazy("on trial"), "confirmed": gettext_lazy("confirmed"),
    "rolled_back": gettext_lazy("rolled back"),
}


def release_state_text(state: str) -> str:
    """A gate's reported release state in words ('on trial' / '试运行'); an unknown word
    (a newer firmware's) is shown as it came, readable."""
    return str(RELEASE_STATES.get(state, state.replace("_", " ")))


def release_text(version: int) -> str:
    """The app set a gate runs: 'release 5' / '版本 5', or the USB-deployed one (0)."""
    if not version:
        return gettext("USB-deployed")
    return gettext("release %(v)d") % {"v": version}


def rolled_back_text(version: int) -> str:
    """A release the gate's boot path rolled back from: 'rolled back release 6' / '已回滚 版本 6'."""
    return gettext("rolled back %(release)s") % {"release": release_text(version)}


role_text_lazy = lazy(role_text, str)
alert_text_lazy = lazy(alert_text, str)
mode_text_lazy = lazy(mode_text, str)
direction_text_lazy = lazy(direction_text, str)
