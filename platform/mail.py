"""Sending e-mail over SMTP (invitations, password resets), rendered in the recipient's language.

Settings: ``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_USER``, ``SMTP_PASSWORD``,
``SMTP_STARTTLS``, ``MAIL_FROM`` (see ``platform/config.py``). A mail is a
template ``platform/templates/mail/<name>.html`` with three blocks:
``subject``, ``text`` (inside ``{% autoescape false %}``) and ``html``.
Addresses never appear in log lines.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import escape

from schemehost.platform.errors import Unavailable

log = logging.getLogger("schemehost.mail")


class MailNotSent(Unavailable):
    type = "mail-not-sent"
    title = _l("The e-mail could not be sent")


def send_mail(to: str | Sequence[str], subject: str, text: str, html: str | None = None) -> None:
    """Send one message (plain text, plus an HTML alternative when given); MailNotSent on failure."""
    cfg = current_app.config
    recipients = [to] if isinstance(to, str) else list(to)
    msg = EmailMessage()
    msg["From"] = cfg["MAIL_FROM"]
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = " ".join(str(subject).split())  # one line: no header injection
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=cfg.get("BASE_DOMAIN") or "localhost")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    try:
        with smtplib.SMTP(cfg["SMTP_HOST"], int(cfg["SMTP_PORT"]), timeout=cfg.get("SMTP_TIMEOUT_S", 10)) as smtp:
            if cfg.get("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if cfg.get("SMTP_USER"):
                smtp.login(cfg["SMTP_USER"], cfg.get("SMTP_PASSWORD") or "")
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        # the exception text may hold the recipient's address: log its kind and code only
        log.warning("mail not sent: %s %s", type(exc).__name__, getattr(exc, "smtp_code", ""))
        raise MailNotSent(str(_l("The e-mail could not be sent; try again in a few minutes."))) from exc
    log.info("mail sent to %d recipient(s)", len(recipients))


def render_mail(template_name: str, *, locale: str | None = None, **context) -> tuple[str, str, str]:
    """``(subject, text, html)`` of mail template ``mail/<template_name>.html`` rendered in ``locale``."""
    template = current_app.jinja_env.get_template(f"mail/{template_name}.html")
    languages = current_app.config.get("LANGUAGES", ["en"])
    locale = locale if locale in languages else current_app.config.get("BABEL_DEFAULT_LOCALE", "en")
    with force_locale(locale):
        ctx = template.new_context(dict(context))
        subject = "".join(template.blocks["subject"](ctx)).strip()
        text = "".join(template.blocks["text"](ctx)).strip() + "\n"
        body = "".join(template.blocks["html"](ctx)).strip()
    html = (f'<!doctype html>\n<html lang="{escape(locale)}"><head><meta charset="utf-8">'
            f"<title>{escape(subject)}</title></head>\n<body>\n{body}\n</body></html>\n")
    return subject, text, html


def send_template(to: str | Sequence[str], template_name: str, *, locale: str | None = None, **context) -> None:
    """Render ``mail/<template_name>.html`` in ``locale`` and send it to ``to``."""
    subject, text, html = render_mail(template_name, locale=locale, **context)
    send_mail(to, subject, text, html)
