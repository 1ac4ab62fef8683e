"""Extensions created without an app; each is bound in ``create_app``."""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from schemehost.platform.db import ControlBase

db = SQLAlchemy(model_class=ControlBase, disable_autonaming=True)
babel = Babel()
login_manager = LoginManager()
csrf = CSRFProtect()
api = Api()
