"""Problem texts that the staff pages can show in the reader's language.

    raise PassSpecError("unit", message("%r: each part must be 0..%d", text, UNIT_MAX))

message() answers a str (the English text, exactly what the command line prints) that
also carries its template and arguments: the server translates the template through its
catalog (gatepass.server.i18n extracts every message("...") of the issuing package) and
fills in the same arguments. Nothing here imports Django.
"""
from __future__ import annotations


class Message(str):
    """An English problem text with the template and arguments it was made from."""

    template: str
    args: tuple

    def __new__(cls, template: str, *args):
        self = super().__new__(cls, template % args if args else template)
        self.template = template
        self.args = args
        return self


def message(template: str, *args) -> Message:
    return Message(template, *args)


def translate(text: str, gettext) -> str:
    """`text` in the language of `gettext` (a Message: its template translated, the same
    arguments filled in; any other text as it is)."""
    if not isinstance(text, Message):
        return text
    t = gettext(text.template)
    try:
        return t % text.args if text.args else t
    except (TypeError, ValueError, KeyError):  # a broken translation never hides the problem
        return str(text)
