"""Language choice and locale-aware formatting for server-rendered pages.

The locale is, in order: ``?lang=`` (remembered in the ``lang`` cookie), the
``lang`` cookie, the signed-in operator's saved locale, the current tenant's
locale, the browser's Accept-Language, the default (decision 0034).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from flask import Flask, current_app, g, has_request_context, request
from flask_babel import format_datetime, format_decimal, get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import default_exceptions
from werkzeug.http import HTTP_STATUS_CODES

LANG_COOKIE = "lang"
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}


def languages() -> list[str]:
    return list(current_app.config.get("LANGUAGES", ["en", "fr"]))


def select_locale() -> str:
    default = current_app.config.get("BABEL_DEFAULT_LOCALE", "en")
    if not has_request_context():
        return default
    supported = languages()
    for choice in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if choice in supported:
            return choice
    if request.path.startswith(("/console", "/t/")):
        # the signed-in operator on the console, the signed-in tenant user on a tenant's pages
        from flask_login import current_user

        locale = getattr(current_user, "locale", None)
        if locale in supported:
            return locale
    tenant = g.get("tenant")
    if tenant is not None and getattr(tenant, "locale", None) in supported:
        return tenant.locale
    return request.accept_languages.best_match(supported) or default


def lang_url(code: str) -> str:
    """The current page in language ``code`` (the other query arguments kept)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args.append(("lang", code))
    return f"{request.path}?{urlencode(args)}"


#: Titles and explanations of HTTP errors, in the user's language.
HTTP_TEXTS = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    401: (_l("Authentication required"), _l("Sign in to continue.")),
    403: (_l("Forbidden"), _l("You may not do this.")),
    404: (_l("Not found"), _l("There is nothing at this address.")),
    405: (_l("Method not allowed"), _l("This address does not accept this kind of request.")),
    409: (_l("Conflict"), _l("This conflicts with data that already exists.")),
    410: (_l("Gone"), _l("This no longer exists.")),
    413: (_l("Too large"), _l("What you sent is too large.")),
    422: (_l("The input is not valid"), _l("Some fields are not valid.")),
    423: (_l("Locked"), _l("This cannot be changed now.")),
    429: (_l("Too many requests"), _l("Wait a little and try again.")),
    500: (_l("Internal error"), _l("Something went wrong on our side. The request changed nothing.")),
    503: (_l("Service unavailable"), _l("The service is not available; try again shortly.")),
}


def problem_text(problem: dict) -> tuple[str, str]:
    """Title and detail of a problem for a person: HTTP's stock English replaced by our own words."""
    status = int(problem.get("status") or 500)
    title, detail = str(problem.get("title") or ""), str(problem.get("detail") or "")
    stock = default_exceptions.get(status)
    ours = HTTP_TEXTS.get(status)
    if ours is None:
        return title, detail
    if title == HTTP_STATUS_CODES.get(status):
        title = str(ours[0])
    if not detail or (stock is not None and detail == stock.description):
        detail = str(ours[1])
    return title or str(ours[0]), detail


def _datetime(value: datetime | None, fmt: str = "medium") -> str:
    return "" if value is None else format_datetime(value, fmt)


def _number(value, fmt: str | None = None) -> str:
    return "" if value is None else format_decimal(value, fmt)


def init_app(app: Flask) -> None:
    app.extensions["babel"].locale_selector = select_locale
    app.jinja_env.filters["datetime"] = _datetime
    app.jinja_env.filters["number"] = _number

    @app.context_processor
    def _i18n_context():
        return {"current_locale": str(get_locale() or "en"), "languages": languages(),
                "language_names": LANGUAGE_NAMES, "lang_url": lang_url,
                "problem_text": problem_text}

    @app.after_request
    def _remember_language(response):
        choice = request.args.get("lang")
        if choice in languages() and request.cookies.get(LANG_COOKIE) != choice:
            response.set_cookie(
                LANG_COOKIE, choice, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
                secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
            )
        return response
