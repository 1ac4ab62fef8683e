"""Console forms for tenants."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class TenantCreateForm(FlaskForm):
    slug = StringField(
        _l("Slug"),
        validators=[DataRequired(_l("Choose a slug.")), Length(max=40, message=_l("A slug has 3 to 40 characters."))],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"},
        description=_l("3 to 40 lowercase letters, digits and hyphens; it appears in the scheme's "
                       "addresses, e.g. cm-north-voucher."),
    )
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the scheme a name.")), Length(max=200)],
                       description=_l("What people call the scheme, e.g. North region maternal voucher."))
    partner = SelectField(_l("Partner"), validators=[DataRequired(_l("Choose the partner that hosts the scheme."))])
    template = RadioField(_l("Template"), validators=[DataRequired(_l("Choose a template."))])
    demo_data = BooleanField(_l("Fill with demo data"),
                             description=_l("Sample records to try the scheme out; leave unticked for a real scheme."))


class TenantActionForm(FlaskForm):
    """Confirms one lifecycle action; ``confirm_slug`` and ``force`` are used by delete only."""

    reason = TextAreaField(_l("Reason (kept in the events)"), validators=[Optional(), Length(max=1000)])
    confirm_slug = StringField(_l("Type the tenant's slug to confirm"), validators=[Optional(), Length(max=40)])
    force = BooleanField(_l("Delete now, before the grace period ends"))
