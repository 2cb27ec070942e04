"""The case pages' forms. A step's form has exactly the fields of its row of the lifecycle
(``needs`` and ``may_give``), each field prefixed with the action so that every step drawn
on one page is its own form. What a value means in law (an amount, a date in the past, a
team of two) is checked by services.clean, in its own words; the forms check presence,
length and the lists."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, StopValidation

from tipline.intake import reference
from tipline.triage.cases import lifecycle, services
from tipline.triage.cases.casewords import FIELD_LABELS
from tipline.triage.tips.forms import DayField, choices, in_choices

# Steps that cannot be undone: a confirmation step first (issue 9, as on the tip page).
IRREVERSIBLE = lifecycle.IRREVERSIBLE
TEXTS = ("reason", "measures", "findings", "sentence")
YES_NO = (("", _l("Choose…")), ("1", _l("Yes")), ("0", _l("No")))


class Checkboxes(SelectMultipleField):
    """A list of checkboxes (the attachments of 令310 art.6, the kinds of penalty, the team)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        values = {c[0] if isinstance(c, tuple) else c.value for c in self.choices or []}
        if any(v not in values for v in self.data or []):
            raise ValueError(_l("Please choose from the list."))


class Ticked:
    """At least one box ticked. Unlike DataRequired it sets no ``required`` flag: on a
    checkbox that would make the browser demand every box of the list."""

    def __init__(self, message: Any) -> None:
        self.message = message

    def __call__(self, _form: object, field: Any) -> None:
        if not field.data:
            field.errors[:] = []
            raise StopValidation(self.message)


def _ticked(name: str, needed: bool) -> list[Any]:
    if needed:
        return [Ticked(_l("Please fill in: %(field)s.", field=_l(FIELD_LABELS[name])))]
    return [Optional()]


def _required(name: str, needed: bool) -> list[Any]:
    if needed:
        return [DataRequired(_l("Please fill in: %(field)s.", field=_l(FIELD_LABELS[name])))]
    return [Optional()]


def _field(name: str, needed: bool, team: list[tuple[str, str]]) -> Any:
    label = _l(FIELD_LABELS[name])
    req = _required(name, needed)
    if name in TEXTS:
        return TextAreaField(label, validators=[*req, Length(max=services.MAX_REASON)])
    if name == "police_unit":
        return StringField(label, validators=[*req, Length(max=services.MAX_UNIT_NAME)])
    if name in ("fine", "recovered", "verified_loss"):
        return StringField(label, validators=[*req, Length(max=20)],
                           description=_l("In yuan, e.g. 12000 or 12000.50."))  # fmt: skip
    if name == "to_bureau":
        items = [c for c in choices(reference.BUREAUS, _l("Choose…"))
                 if c.value in ("", *services.HANDOVER_TO)]  # fmt: skip
        return SelectField(label, choices=items, validators=[*req, Length(max=64),
                           in_choices(_l("Please choose from the list."))])  # fmt: skip
    if name == "supervisor_body":
        return SelectField(label, choices=choices(lifecycle.SUPERVISORS, _l("Choose…")),
                           validators=[*req, Length(max=64),
                                       in_choices(_l("Please choose from the list."))])  # fmt: skip
    if name == "court_fine":
        return SelectField(label, choices=[SelectChoice(v, t) for v, t in YES_NO],
                           validators=[*req, in_choices(_l("Please choose from the list."))])
    if name == "penalty_kinds":
        kinds = [SelectChoice(t.code, _l(t.label)) for t in lifecycle.PENALTY_KINDS]
        return Checkboxes(label, choices=kinds, validators=_ticked(name, needed))  # fmt: skip
    if name == "attachments":
        return Checkboxes(
            label, choices=[SelectChoice(t.code, _l(t.label))
                     for t in lifecycle.REFERRAL_ATTACHMENTS],
            validators=_ticked(name, needed),
            description=_l("Mark each attachment as enclosed (令310 art.6)."),
        )  # fmt: skip
    if name == "team":
        return Checkboxes(label, choices=[SelectChoice(v, t) for v, t in team],
                          validators=_ticked(name, needed),
                          description=_l("At least two officers of the bureau (令310 art.5)."))
    if name == "decided_on":
        return DayField(label, validators=req, render_kw={"type": "date"})
    if name == "at":
        # datetime-local: China's time, as the paper says it (services._instant).
        return StringField(label, validators=[Optional(), Length(max=32)],
                           render_kw={"type": "datetime-local"},
                           description=_l("Leave empty for now; China time."))  # fmt: skip
    raise KeyError(name)  # pragma: no cover - lifecycle._check_table admits no other field


def step_form(
    transition: lifecycle.Transition, team: list[tuple[str, str]], *, bound: bool,
    fine_barred: bool = False,
) -> FlaskForm:
    """The form of one step, with exactly the fields of its row. ``fine_barred``: the court
    imposed 罚金 with no fine before it (行政处罚法 art.35¶2), so the form drawn offers no
    fine; a fine sent anyway is refused by services._guard in the law's words."""
    fields = {name: _field(name, name in transition.needs, team)
              for name in (*transition.needs, *transition.may_give)
              if not (fine_barred and name == "fine")}  # fmt: skip
    if fine_barred and "penalty_kinds" in fields:
        fields["penalty_kinds"] = Checkboxes(
            _l(FIELD_LABELS["penalty_kinds"]), validators=_ticked("penalty_kinds", True),
            choices=[SelectChoice(t.code, _l(t.label)) for t in lifecycle.PENALTY_KINDS
                     if t.code != "fine"],
        )  # fmt: skip
    form_class = type(f"Step_{transition.action}", (FlaskForm,), fields)
    form: FlaskForm = form_class(prefix=transition.action, **({} if bound else {"formdata": None}))
    form.step_fields = tuple(fields)
    form.transition = transition
    return form


def raw_of(form: FlaskForm) -> dict[str, Any]:
    """What was entered, by field name, as services.apply takes it."""
    raw: dict[str, Any] = {}
    for name in form.step_fields:
        value = form[name].data
        if name == "decided_on":
            value = value.isoformat() if value else None
        elif name == "court_fine":
            value = {"1": True, "0": False}.get(value or "")
        elif isinstance(value, str):
            value = value.strip()
        if value not in (None, "", []):
            raw[name] = value
    return raw


class OpenCaseForm(FlaskForm):
    """立案核查: a case from this accepted tip (services.open_case)."""

    subject_kind = SelectField(
        _l("Who the case is about"), choices=choices(reference.SUSPECT_KINDS, _l("Choose…")),
        validators=[DataRequired(_l("Choose who the case is about.")), Length(max=64),
                    in_choices(_l("Please choose from the list."))],
    )  # fmt: skip
    name = StringField(
        _l("Name of the unit or person"),
        validators=[DataRequired(_l("Give the name of the unit or person.")),
                    Length(max=services.MAX_SUBJECT)],
    )  # fmt: skip
    identifier = StringField(
        _l("Unified social credit code (统一社会信用代码) or resident ID number"),
        validators=[Optional(), Length(max=32)],
    )
    period_from = DayField(_l("Conduct from"), validators=[Optional()], render_kw={"type": "date"})
    period_to = DayField(_l("Conduct until"), validators=[Optional()], render_kw={"type": "date"})
    findings = TextAreaField(
        _l("Findings so far"),
        validators=[DataRequired(_l("Please fill in: %(field)s.", field=_l("Findings"))),
                    Length(max=services.MAX_REASON)],
    )  # fmt: skip

    def subject(self) -> services.Subject:
        return services.Subject(
            kind=self.subject_kind.data, name=(self.name.data or "").strip(),
            identifier=(self.identifier.data or "").strip().upper(),
            period_from=self.period_from.data, period_to=self.period_to.data,
        )  # fmt: skip


class JoinCaseForm(FlaskForm):
    """A tip about the same facts joins an open case of the same office (services.join_case)."""

    case = SelectField(
        _l("Open case"), choices=[], validate_choice=False,
        validators=[DataRequired(_l("Choose the case.")), Length(max=16),
                    in_choices(_l("Please choose from the list."))],
    )  # fmt: skip


class CaseFilter(FlaskForm):
    """The case list's filter by stage (no CSRF: a GET search, as the inbox)."""

    stage = SelectField(
        _l("Stage"), choices=choices(lifecycle.STAGES, _l("Any")), validate_choice=False,
        validators=[Optional(), Length(max=64), in_choices(_l("Please choose from the list."))],
    )
