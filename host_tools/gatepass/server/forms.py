"""Staff page forms (labels, choices and errors in the reader's language)."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _, pgettext_lazy

from . import labels
from .ingest import reasons, record
from .models import DIRS_CHOICES, MODE_CHOICES, ROLE_CHOICES, STAFF_ROLE_CHOICES, Device


def _kind_choices():
    return [("", _("any kind"))] + [(str(k), labels.kind_text(k)) for k in sorted(record.KIND_NAMES)]


def _reason_choices():
    return [("", _("any reason"))] + [(str(code), labels.reason_label(code)) for code in sorted(reasons._NAMES)]


class EventFilter(forms.Form):
    date_from = forms.DateField(label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    device = forms.ChoiceField(label=_("gate"), required=False)
    kind = forms.ChoiceField(label=_("kind"), required=False, choices=_kind_choices)
    reason = forms.ChoiceField(label=_("reason"), required=False, choices=_reason_choices)
    outcome = forms.ChoiceField(label=_("outcome"), required=False,
                                choices=[("", _("any")), ("allowed", _("allowed")), ("denied", _("denied"))])
    pid = forms.RegexField(required=False, regex=r"^[0-9a-fA-F]{1,16}$", label=_("pass id"),
                           error_messages={"invalid": _("hex digits of the pass id")})
    fever = forms.BooleanField(label=_("abnormal temperature"), required=False)
    urgent = forms.BooleanField(label=_("urgent"), required=False)

    def __init__(self, *args, community=None, **kwargs):
        super().__init__(*args, **kwargs)
        devs = Device.objects.filter(community=community).values_list("id", "gate") if community else []
        self.fields["device"].choices = [("", _("any gate"))] + [(i, "%s (%s)" % (g, i)) for i, g in devs]


class ModeForm(forms.Form):
    mode = forms.TypedChoiceField(label=_("mode"), choices=MODE_CHOICES, coerce=int)
    threshold = forms.FloatField(min_value=35.0, max_value=40.0, label=_("abnormal temperature threshold (°C)"),
                                 widget=forms.NumberInput(attrs={"step": "0.01"}))


class QuarantineForm(forms.Form):
    building = forms.IntegerField(label=_("building"), min_value=1, max_value=65535)
    entrance = forms.IntegerField(label=_("entrance"), min_value=0, max_value=65535, required=False,
                                  help_text=_("empty or 0: whole building"))
    room = forms.IntegerField(label=_("room"), min_value=0, max_value=65535, required=False,
                              help_text=_("empty or 0: whole entrance"))
    days = forms.IntegerField(label=_("days"), min_value=1, max_value=365, initial=14)
    note = forms.CharField(label=_("note"), max_length=200, required=False)

    def clean(self):
        d = super().clean()
        if not d.get("entrance") and d.get("room"):
            raise forms.ValidationError(_("a room needs its entrance"))
        return d


class PassForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("person", "name"), max_length=100)
    phone = forms.CharField(label=_("phone"), max_length=32, required=False)
    role = forms.TypedChoiceField(label=_("role"), choices=ROLE_CHOICES, coerce=int, initial=0)
    building = forms.IntegerField(label=_("building"), min_value=0, max_value=65535, initial=0)
    entrance = forms.IntegerField(label=_("entrance"), min_value=0, max_value=65535, initial=0)
    room = forms.IntegerField(label=_("room"), min_value=0, max_value=65535, initial=0)
    dirs = forms.TypedChoiceField(choices=DIRS_CHOICES, coerce=int, initial=3, label=_("directions"))
    label = forms.CharField(label=_("label"), max_length=16, required=False)
    days = forms.IntegerField(min_value=1, max_value=366, initial=30, label=_("valid for (days)"))

    def clean(self):
        d = super().clean()
        if d.get("role") == 0 and not d.get("building"):
            raise forms.ValidationError(_("a resident pass needs a home unit (building)"))
        return d


class MemberForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]{1,150}$", label=_("user name"),
                                error_messages={"invalid": _("letters, digits and @.+-_ only")})
    role = forms.ChoiceField(label=_("role"), choices=STAFF_ROLE_CHOICES, initial="viewer")
