"""The public forms. Labels and messages are catalogue strings; choices come from reference."""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from tipline.intake import reference
from tipline.intake.submit import MAX_TEXT, parse_amount


def _choices(terms: tuple[reference.Term, ...], *, blank: Any = None) -> list[SelectChoice]:
    choices = [SelectChoice(term.code, _l(term.label)) for term in terms]
    if blank is not None:
        choices.insert(0, SelectChoice("", blank))
    return choices


def _valid_region(_form: FlaskForm, field: StringField) -> None:
    if field.data and field.data not in reference.regions():
        raise ValidationError(_l("There is no region with this code."))


def _valid_amount(_form: FlaskForm, field: StringField) -> None:
    try:
        amount = parse_amount(field.data)
    except InvalidOperation as exc:
        raise ValidationError(_l("Give the amount in yuan as a number, e.g. 12000.")) from exc
    if amount is not None and amount < 0:
        raise ValidationError(_l("Give the amount in yuan as a positive number."))


class ReportForm(FlaskForm):
    category = SelectField(
        _l("What kind of wrongdoing?"),
        choices=_choices(reference.CATEGORIES),
        validators=[InputRequired(_l("Choose the kind of wrongdoing."))],
    )
    fund = SelectField(
        _l("Which fund is affected?"),
        choices=_choices(reference.FUNDS, blank=_l("I do not know")),
        validators=[Optional()],
    )
    suspect_kind = SelectField(
        _l("Who did it?"),
        choices=_choices(reference.SUSPECT_KINDS, blank=_l("I do not know")),
        validators=[Optional()],
    )
    region = StringField(
        _l("Where did it happen? (six-digit region code)"),
        validators=[
            DataRequired(_l("Give the place where it happened.")),
            Regexp(r"^\d{6}$", message=_l("A region code has six digits, e.g. 441502.")),
            _valid_region,
        ],
    )
    amount = StringField(
        _l("Estimated amount involved, in yuan (optional)"), validators=[_valid_amount]
    )
    text = TextAreaField(
        _l("What happened?"),
        validators=[
            DataRequired(_l("Describe what happened.")),
            Length(max=MAX_TEXT, message=_l("At most 20,000 characters.")),
        ],
    )
    attachments = MultipleFileField(_l("Evidence files (optional)"))


class CheckForm(FlaskForm):
    receipt = StringField(
        _l("Your receipt code"),
        validators=[DataRequired(_l("Enter the 24-digit receipt code you were given."))],
    )
