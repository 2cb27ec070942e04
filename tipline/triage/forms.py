"""The internal site's forms. Labels are catalogue strings; choices come from reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from tipline.intake import reference
from tipline.intake.submit import MAX_TEXT, today
from tipline.intake.web import valid_amount
from tipline.triage.notices import CHANNELS as NOTICE_CHANNELS

STATUS_CHOICES = ("received", "screened", "accepted", "not_accepted", "transferred_out")


def choices(terms: tuple[reference.Term, ...], blank: Any = None) -> list[SelectChoice]:
    found = [SelectChoice(term.code, _l(term.label)) for term in terms]
    if blank is not None:
        found.insert(0, SelectChoice("", blank))
    return found


def in_choices(message: Any) -> Any:
    """A choice from the field's list, refused in the catalogue's words (WTForms' own
    message has no Chinese here)."""

    def check(_form: object, field: Any) -> None:
        values = {c.value if isinstance(c, SelectChoice) else c[0] for c in field.choices}
        if field.data and field.data not in values:
            raise ValidationError(message)

    return check


class DayField(DateField):
    """A day, refused in the catalogue's words when it is not one."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            self.data = None
            raise ValueError(_l("Give a day as year-month-day, e.g. 2026-03-01.")) from error


def _select(label: Any, message: Any, items: list[SelectChoice] | None = None) -> Any:
    return SelectField(
        label, choices=items or [SelectChoice("", _l("Any"))], validate_choice=False,
        validators=[Optional(), in_choices(message)],
    )  # fmt: skip


class InboxFilter(FlaskForm):
    """The inbox's search. The lists are filled per viewer (views.inbox_form): only what
    applies to them, and a value outside them is refused with a message."""

    tip_id = StringField(
        _l("Tip number"),
        validators=[
            Optional(),
            Regexp(r"^\s*[0-9a-fA-F]{4,16}\s*$",
                   message=_l("A tip number has 4 to 16 of the characters 0-9 and a-f.")),
        ],
    )  # fmt: skip
    received_from = DayField(_l("Received from"), validators=[Optional()])
    received_to = DayField(_l("Received until"), validators=[Optional()])
    city = _select(_l("City"), _l("Choose a city from the list."))
    county = _select(_l("County or district"), _l("Choose a county or district from the list."))
    amount_band = _select(_l("Amount"), _l("Choose an amount from the list."))
    channel = _select(_l("Channel"), _l("Choose a channel from the list."))
    real_name = _select(
        _l("Real name"), _l("Choose from the list."),
        [SelectChoice("", _l("Any")), SelectChoice("yes", _l("Real name")),
         SelectChoice("no", _l("Anonymous"))],
    )  # fmt: skip
    status = _select(_l("Status"), _l("Choose a status from the list."))
    bureau = _select(_l("Bureau"), _l("Choose a bureau from the list."))
    category = _select(_l("Kind of wrongdoing"), _l("Choose the kind of wrongdoing from the list."))
    overdue = BooleanField(_l("Overdue only"))
    mine = BooleanField(_l("Assigned to me"))
    # Whether the viewer may choose among bureaus at all (views.inbox_form).
    offers_bureau = True

    def validate_received_to(self, field: Any) -> None:
        start = self.received_from.data
        if start and field.data and field.data < start:
            raise ValidationError(_l("The last day comes before the first."))


class AssignForm(FlaskForm):
    """Assign the tip to an officer ("" gives it back to the bureau); choices per tip."""

    officer = SelectField(_l("Officer"), choices=[], validate_choice=False,
                          validators=[Length(max=12)])  # fmt: skip


class MessageForm(FlaskForm):
    text = TextAreaField(
        _l("Message to the reporter"),
        validators=[DataRequired(_l("Write a message.")), Length(max=5_000)],
    )
    asks_reply = BooleanField(_l("This is a question the reporter should answer"))


class RouteForm(FlaskForm):
    bureau = SelectField(_l("Responsible bureau"), choices=choices(reference.BUREAUS))
    reason = TextAreaField(_l("Why, if not the suggested bureau"), validators=[Length(max=2000)])


class AcceptForm(FlaskForm):
    pass


class RefuseForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=choices(reference.REFUSAL_REASONS))
    text = TextAreaField(_l("Explanation for the reporter (optional)"),
                         validators=[Length(max=5000)])  # fmt: skip


class TransferForm(FlaskForm):
    bureau = SelectField(_l("To bureau"), choices=choices(reference.BUREAUS))
    region = StringField(
        _l("Office's region code (optional)"),
        validators=[
            Optional(),
            Length(max=6, message=_l("A region code has six digits.")),
            Regexp(r"^\d{6}$", message=_l("A region code has six digits.")),
        ],
    )
    text = TextAreaField(_l("Explanation for the reporter (optional)"),
                         validators=[Length(max=5000)])  # fmt: skip


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Internal note"), validators=[DataRequired(), Length(max=5000)])


class DuplicateForm(FlaskForm):
    other = StringField(_l("Number of the other tip"), validators=[DataRequired(), Length(max=16)])


class IdentityRequestForm(FlaskForm):
    reason = TextAreaField(
        _l("Why the reporter's identity is needed"), validators=[DataRequired(), Length(max=2000)]
    )


class IdentityDecisionForm(FlaskForm):
    approve = SelectField(
        _l("Decision"),
        choices=[SelectChoice("yes", _l("Approve")), SelectChoice("no", _l("Refuse"))],
    )


class RecuseForm(FlaskForm):
    pass


class NoticeForm(FlaskForm):
    """domain.md T2: the notice is posted on the portal and given on the reporter's channel."""

    channel = SelectField(
        _l("Also told the reporter"),
        choices=[SelectChoice(t.code, _l(t.label)) for t in NOTICE_CHANNELS],
    )
    given_on = DateField(
        _l("On"), default=today,
        validators=[DataRequired(_l("Give the day the reporter was told."))],
    )  # fmt: skip


FORMS: dict[str, type[FlaskForm]] = {
    "message": MessageForm,
    "route": RouteForm,
    "accept": AcceptForm,
    "refuse": RefuseForm,
    "transfer": TransferForm,
    "note": NoteForm,
    "duplicate": DuplicateForm,
    "identity": IdentityRequestForm,
    "decide": IdentityDecisionForm,
    "recuse": RecuseForm,
    "notice": NoticeForm,
}


@dataclass
class DecisionForms:
    """The tip page's forms, each with its own field prefix; one of them may be bound to
    the request (after a failed submission, to show its errors and keep what was typed)."""

    forms: dict[str, FlaskForm]

    @classmethod
    def blank(cls) -> DecisionForms:
        return cls({name: form(prefix=name, formdata=None) for name, form in FORMS.items()})

    def bind(self, name: str) -> Any:
        self.forms[name] = FORMS[name](prefix=name)
        return self.forms[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.forms[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


class EntryForm(FlaskForm):
    channel = SelectField(
        _l("How it arrived"),
        choices=[c for c in choices(reference.CHANNELS) if c.value not in ("web", "app")],
    )
    received_on = DateField(_l("Received on"), validators=[DataRequired()])
    category = SelectField(_l("Kind of wrongdoing"), choices=choices(reference.CATEGORIES))
    fund = SelectField(_l("Fund"), choices=choices(reference.FUNDS, _l("Not known")),
                       validators=[Optional()])  # fmt: skip
    suspect_kind = SelectField(
        _l("Who did it"), choices=choices(reference.SUSPECT_KINDS, _l("Not known")),
        validators=[Optional()],
    )  # fmt: skip
    unit_level = SelectField(
        _l("Level of the unit"),
        choices=choices(tuple(t for t in reference.UNIT_LEVELS if t.code != "unknown"),
                        _l("Not known")),
        validators=[Optional()],
    )  # fmt: skip
    suspect_name = StringField(_l("Unit or person"), validators=[Optional(), Length(max=200)])
    region = StringField(
        _l("Where it happened (six-digit region code)"),
        validators=[
            DataRequired(),
            Length(max=6, message=_l("A region code has six digits.")),
            Regexp(r"^\d{6}$", message=_l("A region code has six digits.")),
        ],
    )
    amount = StringField(
        _l("Amount in yuan"), validators=[Optional(), Length(max=32), valid_amount]
    )
    text = TextAreaField(_l("What was reported"), validators=[DataRequired(), Length(max=MAX_TEXT)])
    attachments = MultipleFileField(_l("Scanned letters and other files"))
    # A real-name reporter who wrote, phoned or came in: the same sealed identity envelope
    # and the same T2 clock as on the public site (domain.md T2). Raw lengths as there; the
    # shared validator checks the values.
    name = StringField(_l("Reporter's name"), validators=[Optional(), Length(max=50)])
    id_number = StringField(
        _l("Reporter's resident identity card number"), validators=[Optional(), Length(max=24)]
    )
    phone = StringField(_l("Reporter's telephone"), validators=[Optional(), Length(max=20)])
    wants_notice = BooleanField(_l("The reporter asks to be told whether it is accepted"))

    def has_identity(self) -> bool:
        """Any identity field filled in: the reporter gave their name (and the validator
        then asks for all three)."""
        return any((f.data or "").strip() for f in (self.name, self.id_number, self.phone))
