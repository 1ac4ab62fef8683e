"""Console forms for billing (amounts typed in major units, converted with ``money.to_minor``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class PlanForm(FlaskForm):
    partner = SelectField(_l("Partner"), validators=[DataRequired(_l("Choose a partner."))])
    code = StringField(_l("Code"), validators=[DataRequired(_l("Give the plan a code.")), Length(max=40)],
                       description=_l("Short and unique for the partner, e.g. standard-2027."))
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the plan a name.")), Length(max=200)])
    currency = StringField(_l("Currency"), validators=[DataRequired(), Length(min=3, max=3)],
                           description=_l("ISO 4217 code, e.g. XAF, TZS, USD."))
    period = SelectField(_l("Billing period"), choices=[("monthly", _l("monthly")), ("quarterly", _l("quarterly")),
                                                        ("yearly", _l("yearly"))])
    fixed_fee = StringField(_l("Fixed fee per period"), default="0")
    setup_fee = StringField(_l("Setup fee"), default="0")
    trial_days = IntegerField(_l("Trial days"), default=0, validators=[NumberRange(min=0, max=3650)])
    meter = SelectField(_l("Metered price"), validators=[Optional()])
    included = IntegerField(_l("Units included"), default=0, validators=[Optional(), NumberRange(min=0)])
    unit_price = StringField(_l("Price per unit"), default="0",
                             description=_l("Tiers and several metered prices: use the API or the CLI."))
    read_only_after_days = IntegerField(_l("Read-only after (days overdue)"), default=30,
                                        validators=[NumberRange(min=0, max=3650)])
    suspend_after_days = IntegerField(_l("Suspended after (days overdue)"), default=60,
                                      validators=[NumberRange(min=0, max=3650)])


class SubscribeForm(FlaskForm):
    tenant = StringField(_l("Tenant slug"), validators=[DataRequired(_l("Give the tenant's slug.")), Length(max=40)])
    plan = SelectField(_l("Plan"), validators=[DataRequired(_l("Choose a plan."))])
    start = DateField(_l("Start"), validators=[Optional()])
    billing_email = StringField(_l("Billing e-mail"), validators=[Optional(), Length(max=254)])


class PaymentForm(FlaskForm):
    method = SelectField(_l("Method"), choices=[("bank", _l("bank transfer")), ("mobile_money", _l("mobile money")),
                                                ("cash", _l("cash"))])
    amount = StringField(_l("Amount"), validators=[DataRequired(_l("Give the amount."))])
    reference = StringField(_l("Reference"), validators=[DataRequired(_l("Give the bank, receipt or transaction "
                                                                           "reference.")), Length(max=100)])
    paid_on = DateField(_l("Paid on"), validators=[DataRequired(_l("Give the date of the payment."))])
    proof = FileField(_l("Proof (receipt, scan; at most 5 MB)"))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Give the reason.")), Length(max=2000)])


class ExtendForm(FlaskForm):
    until = DateField(_l("Extend until"), validators=[DataRequired(_l("Give a date."))])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Give the reason.")), Length(max=2000)])


class ChangePlanForm(FlaskForm):
    plan = SelectField(_l("New plan"), validators=[DataRequired(_l("Choose a plan."))])
    on = DateField(_l("From"), validators=[Optional()], description=_l("Empty: today."))


class CancelForm(FlaskForm):
    """Only its CSRF token: cancel at period end, or keep the subscription."""
