"""The public forms. Labels and messages are catalogue strings; choices come from reference.

Every field validates with a message in the reporter's language, and a form shown again
keeps what was typed (WTForms re-renders submitted values).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    MultipleFileField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from tipline.intake import reference
from tipline.intake.submit import MAX_TEXT
from tipline.intake.web import RegionFields, valid_amount

# Every text field has a Length validator: WTForms checks it on the raw value, before the
# services sanitise anything (tests/test_hostile_input.py walks the forms to make sure).
MAX_AMOUNT_CHARS = 32


def choices(terms: tuple[reference.Term, ...], *, blank: Any = None) -> list[SelectChoice]:
    found = [SelectChoice(term.code, _l(term.label)) for term in terms]
    if blank is not None:
        found.insert(0, SelectChoice("", blank))
    return found


class IdentityFields:
    """The real-name fields, shared by the report form and the add-identity form."""

    name = StringField(_l("Your name"), validators=[Optional(), Length(max=50)])
    id_number = StringField(
        # 18 characters, with room for the spaces or dashes people type between groups.
        _l("Resident identity card number"), validators=[Optional(), Length(max=24)]
    )
    phone = StringField(_l("Telephone"), validators=[Optional(), Length(max=20)])
    wants_notice = BooleanField(_l("Tell me whether my report is accepted"))


class ReportForm(FlaskForm, IdentityFields, RegionFields):
    fund = RadioField(
        _l("Which insurance is affected?"),
        choices=choices(reference.FUNDS, blank=_l("I do not know")),
        default="",
        validators=[Optional()],
    )
    category = RadioField(
        _l("What happened, in short?"),
        choices=choices(reference.CATEGORIES),
        validators=[InputRequired(_l("Choose what happened."))],
    )
    suspect_kind = RadioField(
        _l("Who did it?"),
        choices=choices(reference.SUSPECT_KINDS, blank=_l("I do not know")),
        default="",
        validators=[Optional()],
    )
    # domain.md section 6: who handles a tip depends on the level of the unit (市直 in 汕尾).
    unit_level = RadioField(
        _l("If it is a unit: which level of government does it belong to?"),
        choices=choices(
            tuple(t for t in reference.UNIT_LEVELS if t.code != "unknown"),
            blank=_l("I do not know"),
        ),
        default="",
        validators=[Optional()],
    )
    suspect_name = StringField(
        _l("Name of the unit or person, if you know it"),
        validators=[Optional(), Length(max=200)],
    )
    # province, city, county: RegionFields (shared with the officers' entry form).
    happened_start = DateField(_l("Since when?"), validators=[Optional()])
    happened_end = DateField(_l("Until when?"), validators=[Optional()])
    ongoing = BooleanField(_l("It is still going on"))
    amount = StringField(
        _l("Estimated amount involved, in yuan"),
        validators=[Optional(), Length(max=MAX_AMOUNT_CHARS), valid_amount],
    )
    text = TextAreaField(
        _l("What happened?"),
        validators=[
            DataRequired(_l("Describe what happened.")),
            Length(max=MAX_TEXT, message=_l("At most 20,000 characters.")),
        ],
    )
    how_known = RadioField(
        _l("How do you know?"),
        choices=choices(reference.HOW_KNOWN),
        validators=[Optional()],
    )
    attachments = MultipleFileField(_l("Evidence files"))
    anonymous = RadioField(
        _l("Do you want to give your name?"),
        choices=[
            SelectChoice("yes", _l("No, I report anonymously")),
            SelectChoice("no", _l("Yes, I report under my real name")),
        ],
        default="yes",
        validators=[Optional()],  # not chosen counts as anonymous: the safer side
    )
    # One-time token of this form (issue 8): drawn when the form is first shown and carried
    # through every re-display, so that the same form sent twice stores one report.
    form_token = HiddenField(
        default=lambda: secrets.token_urlsafe(32), validators=[Length(max=64)]
    )
    # A field people never see; automated senders fill it in (honeypot).
    website = StringField(_l("Leave this field empty"), validators=[Length(max=200)])


class CheckForm(FlaskForm):
    receipt = StringField(
        _l("Your receipt code"),
        validators=[
            DataRequired(_l("Enter the 24-digit receipt code you were given.")),
            Length(max=64, message=_l("A receipt code has 24 digits.")),
        ],
    )


class ReceiptDoneForm(FlaskForm):
    receipt = HiddenField(validators=[Length(max=64)])
    written_down = BooleanField(
        _l("I have written down my receipt code"),
        validators=[DataRequired(_l("Please write the code down first, then tick the box."))],
    )


class MessageForm(FlaskForm):
    text = TextAreaField(
        _l("Your message"),
        validators=[DataRequired(_l("Write a message.")), Length(max=5_000)],
    )


class EvidenceForm(FlaskForm):
    attachments = MultipleFileField(_l("More evidence files"))


class IdentityForm(FlaskForm, IdentityFields):
    pass


class SignOutForm(FlaskForm):
    pass
