"""Staff page forms."""
from __future__ import annotations

from django import forms

from .ingest import reasons, record
from .models import DIRS_CHOICES, MODE_CHOICES, ROLE_CHOICES, Device

_KIND_CHOICES = [("", "any kind")] + [(str(k), v) for k, v in sorted(record.KIND_NAMES.items())]
_REASON_CHOICES = [("", "any reason")] + [
    (str(code), "%d %s" % (code, reasons.name(code))) for code in sorted(reasons._NAMES)]


class EventFilter(forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    device = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False, choices=_KIND_CHOICES)
    reason = forms.ChoiceField(required=False, choices=_REASON_CHOICES)
    outcome = forms.ChoiceField(required=False, choices=[("", "any"), ("allowed", "allowed"), ("denied", "denied")])
    pid = forms.RegexField(required=False, regex=r"^[0-9a-fA-F]{1,16}$", label="pass id",
                           error_messages={"invalid": "hex digits of the pass id"})
    fever = forms.BooleanField(required=False)
    urgent = forms.BooleanField(required=False)

    def __init__(self, *args, community=None, **kwargs):
        super().__init__(*args, **kwargs)
        devs = Device.objects.filter(community=community).values_list("id", "gate") if community else []
        self.fields["device"].choices = [("", "any gate")] + [(i, "%s (%s)" % (g, i)) for i, g in devs]


class ModeForm(forms.Form):
    mode = forms.TypedChoiceField(choices=MODE_CHOICES, coerce=int)
    threshold = forms.FloatField(min_value=35.0, max_value=40.0, label="fever threshold (C)",
                                 widget=forms.NumberInput(attrs={"step": "0.01"}))


class QuarantineForm(forms.Form):
    building = forms.IntegerField(min_value=1, max_value=65535)
    entrance = forms.IntegerField(min_value=0, max_value=65535, required=False, help_text="empty or 0: whole building")
    room = forms.IntegerField(min_value=0, max_value=65535, required=False, help_text="empty or 0: whole entrance")
    days = forms.IntegerField(min_value=1, max_value=365, initial=14)
    note = forms.CharField(max_length=200, required=False)

    def clean(self):
        d = super().clean()
        if not d.get("entrance") and d.get("room"):
            raise forms.ValidationError("a room needs its entrance")
        return d


class PassForm(forms.Form):
    name = forms.CharField(max_length=100)
    phone = forms.CharField(max_length=32, required=False)
    role = forms.TypedChoiceField(choices=ROLE_CHOICES, coerce=int, initial=0)
    building = forms.IntegerField(min_value=0, max_value=65535, initial=0)
    entrance = forms.IntegerField(min_value=0, max_value=65535, initial=0)
    room = forms.IntegerField(min_value=0, max_value=65535, initial=0)
    dirs = forms.TypedChoiceField(choices=DIRS_CHOICES, coerce=int, initial=3, label="directions")
    label = forms.CharField(max_length=16, required=False)
    days = forms.IntegerField(min_value=1, max_value=366, initial=30, label="valid for (days)")

    def clean(self):
        d = super().clean()
        if d.get("role") == 0 and not d.get("building"):
            raise forms.ValidationError("a resident pass needs a home unit (building)")
        return d
