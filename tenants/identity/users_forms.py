"""Console forms of tenant users: invitation, (de)activation, choosing a password, asking for a reset."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length
from wtforms.widgets import CheckboxInput, ListWidget

from schemehost.tenants.identity.passwords import MAX_LENGTH, MIN_LENGTH


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter the person's e-mail address.")),
                                                 Length(max=254)],
                       render_kw={"autocomplete": "off", "autofocus": True})
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the person's name.")), Length(max=200)])
    roles = CheckboxesField(_l("Roles"), choices=[], validate_choice=False)
    locale = SelectField(_l("Language of e-mails and pages"), choices=[
        SelectChoice("", _l("The scheme's language")), SelectChoice("en", "English"), SelectChoice("fr", "Français")])


class UserActionForm(FlaskForm):
    """Only a CSRF token: deactivate, reactivate, send the invitation again."""


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Choose a password.")), Length(max=1024)],
        description=_l("At least %(min)s characters (at most %(max)s). A few unrelated words make a good one; "
                       "avoid your name, your e-mail and common passwords.", min=MIN_LENGTH, max=MAX_LENGTH),
        render_kw={"autocomplete": "new-password", "autofocus": True})
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(_l("Repeat the password.")),
                    EqualTo("password", _l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"})


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter your e-mail address.")), Length(max=254)],
                       render_kw={"autocomplete": "username", "autofocus": True})
