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
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from tipline.intake import reference
from tipline.intake.submit import MAX_TEXT, today
from tipline.intake.web import RegionFields, valid_amount
from tipline.triage.tips.notices import CHANNELS as NOTICE_CHANNELS

IDENTITY_DECISIONS = ("approve", "refuse")
STATUS_CHOICES = ("received", "screened", "accepted", "not_accepted", "transferred_out",
                  "in_case")  # fmt: skip


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
        # The raw length first (tests/test_hostile_input): every code here is short.
        validators=[Length(max=64), Optional(), in_choices(message)],
    )  # fmt: skip


class InboxFilter(FlaskForm):
    """The inbox's search. The lists are filled per viewer (views.inbox_form): only what
    applies to them, and a value outside them is refused with a message."""

    tip_id = StringField(
        _l("Tip number"),
        validators=[
            Length(max=64),  # the raw length, before the pattern (tests/test_hostile_input)
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
    # No default (issue 9): a blank first choice, refused with words if left so.
    reason = SelectField(
        _l("Reason"),
        choices=choices(reference.REFUSAL_REASONS, _l("Choose a reason")),
        validators=[DataRequired(_l("Choose the reason for not accepting the tip."))],
    )
    text = TextAreaField(_l("Explanation for the reporter (optional)"),
                         validators=[Length(max=5000)])  # fmt: skip


class TransferForm(FlaskForm):
    bureau = SelectField(
        _l("To bureau"),
        choices=choices(reference.BUREAUS, _l("Choose a bureau")),
        validators=[DataRequired(_l("Choose the bureau to transfer the tip to."))],
    )
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
    """No default (issue 9): the decision is the button pressed, approve or reject."""

    decision = StringField(
        _l("Decision"),
        validators=[
            DataRequired(_l("Choose to approve or to reject the request.")),
            Length(max=16),
            AnyOf(IDENTITY_DECISIONS, message=_l("Choose to approve or to reject the request.")),
        ],
    )


class RecuseForm(FlaskForm):
    pass


class SealForm(FlaskForm):
    """Seal a tip for discipline inspection (decisions.seal_tip): the reason is kept sealed."""

    reason = TextAreaField(
        _l("Why the tip concerns staff"),
        validators=[
            DataRequired(_l("Say why the tip concerns staff.")),
            Length(max=2000, message=_l("At most 2000 characters.")),
        ],
    )


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
    "seal": SealForm,
    "notice": NoticeForm,
}


@dataclass
class DecisionForms:
    """The tip page's forms, each with its own field prefix; one of them may be bound to
    the request (after a failed submission, to show its errors and keep what was typed)."""

    forms: dict[str, FlaskForm]

    bound: str | None = None

    @classmethod
    def blank(cls) -> DecisionForms:
        return cls({name: form(prefix=name, formdata=None) for name, form in FORMS.items()})

    def bind(self, name: str) -> Any:
        self.forms[name] = FORMS[name](prefix=name)
        self.bound = name
        return self.forms[name]

    def start_on(self, tip: Any) -> None:
        """Issue 9: the route form starts on the suggested bureau (a form sent back with its
        errors keeps what the officer chose)."""
        if self.bound != "route" and tip.suggested_bureau:
            self.forms["route"].bureau.data = tip.suggested_bureau

    def __getattr__(self, name: str) -> Any:
        try:
            return self.forms[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


class Day(DateField):
    """A date that says, in the catalogues' words, how to write one when it cannot be read."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("Give the date as year-month-day, e.g. 2025-09-30.")) from exc


def _not_web(terms: tuple[reference.Term, ...]) -> list[SelectChoice]:
    return [c for c in choices(terms, _l("Choose…")) if c.value not in ("web", "app")]


class EntryForm(FlaskForm, RegionFields):
    """A tip that came by telephone, letter, fax, e-mail or a visit: everything the public
    form asks (portal/forms.py ReportForm), the same region picker, plus what only an officer
    sets (how it came, the day it came) and whether the reporter takes a receipt code."""

    channel = SelectField(
        _l("How it arrived"), choices=_not_web(reference.CHANNELS),
        validators=[DataRequired(_l("Choose how the tip arrived."))],
    )  # fmt: skip
    received_on = Day(
        _l("Received on"), default=today,
        validators=[InputRequired(_l("Give the day the tip was received."))],
    )  # fmt: skip
    category = SelectField(
        _l("Kind of wrongdoing"), choices=choices(reference.CATEGORIES, _l("Choose…")),
        validators=[DataRequired(_l("Choose the kind of wrongdoing from the list."))],
    )  # fmt: skip
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
    suspect_name = StringField(
        _l("Unit or person"),
        validators=[Optional(), Length(max=200, message=_l("At most 200 characters."))],
    )
    # province, city, county: RegionFields, the public form's picker (intake/web.py).
    happened_start = Day(_l("Since when"), validators=[Optional()])
    happened_end = Day(_l("Until when"), validators=[Optional()])
    ongoing = BooleanField(_l("It is still going on"))
    amount = StringField(
        _l("Amount in yuan"),
        validators=[Optional(), Length(max=32, message=_l("At most 32 characters.")),
                    valid_amount],
    )  # fmt: skip
    text = TextAreaField(
        _l("What was reported"),
        validators=[
            DataRequired(_l("Write down what the reporter said or wrote.")),
            Length(max=MAX_TEXT, message=_l("At most 20,000 characters.")),
        ],
    )
    how_known = SelectField(
        _l("How the reporter knows"), choices=choices(reference.HOW_KNOWN, _l("Not said")),
        validators=[Optional()],
    )  # fmt: skip
    attachments = MultipleFileField(_l("Scanned letters and other files"))
    # A real-name reporter who wrote, phoned or came in: the same sealed identity envelope
    # and the same T2 clock as on the public site (domain.md T2). Raw lengths as there; the
    # shared validator (intake/submit.py validate_identity, ric_problem) checks the values.
    name = StringField(
        _l("Reporter's name"),
        validators=[Optional(), Length(max=50, message=_l("At most 50 characters."))],
    )
    id_number = StringField(
        _l("Reporter's resident identity card number"),
        validators=[Optional(), Length(max=24, message=_l(
            "A resident identity card number has 18 characters: 17 digits and a last digit "
            "or X."))],
    )  # fmt: skip
    phone = StringField(
        _l("Reporter's telephone"),
        validators=[Optional(), Length(max=20, message=_l(
            "Give a mobile number of 11 digits or a landline with area code."))],
    )  # fmt: skip
    wants_notice = BooleanField(_l("The reporter asks to be told whether it is accepted"))
    # Kept nowhere: the code is drawn, shown once to the officer to read out or print, and
    # only its scrypt verifier is stored, as for the public site (crypto/receipt.py).
    wants_receipt = BooleanField(_l("The reporter wants a receipt code"))

    def has_identity(self) -> bool:
        """Any identity field filled in: the reporter gave their name (and the validator
        then asks for all three)."""
        return any((f.data or "").strip() for f in (self.name, self.id_number, self.phone))
