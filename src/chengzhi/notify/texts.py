"""What each kind of notification says, in Chinese and English (the Babel catalogues translate the English).

A template has a subject (e-mail, in-app title) and a text (the e-mail's body, the in-app text, the SMS). SMS
carry the subject and the link only: short enough for one or two segments.
"""

from __future__ import annotations

from dataclasses import dataclass

from chengzhi.i18n import N_, Text, gettext

RESIDENT_KINDS = ("received", "dispatched", "replied", "rate", "reopened")
STAFF_KINDS = ("assigned", "overdue", "supervised", "alert")
KINDS = RESIDENT_KINDS + STAFF_KINDS
CHANNELS = ("email", "sms", "in_app")


@dataclass(frozen=True)
class Template:
    subject: Text
    text: Text


TEMPLATES: dict[str, Template] = {
    "received": Template(
        N_("Request %(number)s received"),
        N_(
            "We have received your request. Its tracking number is %(number)s; follow it at %(url)s "
            "with this number and the last four digits of your phone."
        ),
    ),
    "dispatched": Template(
        N_("Request %(number)s sent to %(unit)s"),
        N_("Your request %(number)s has been sent to %(unit)s, who will contact you. Follow it at %(url)s."),
    ),
    "replied": Template(
        N_("Request %(number)s replied"),
        N_(
            "%(unit)s has replied to your request %(number)s:\n\n%(reply)s\n\nRead it and rate it at %(url)s."
        ),
    ),
    "rate": Template(
        N_("How was request %(number)s handled?"),
        N_(
            "Was your request %(number)s resolved, and are you satisfied? Tell us at %(url)s: your rating "
            "counts in the unit's appraisal."
        ),
    ),
    "reopened": Template(
        N_("Request %(number)s reopened"),
        N_("Your request %(number)s has been reopened and will be handled again. Follow it at %(url)s."),
    ),
    "assigned": Template(
        N_("New request %(number)s for %(unit)s"),
        N_("Request %(number)s has been dispatched to %(unit)s: sign it before %(deadline)s. %(url)s"),
    ),
    "overdue": Template(
        N_("Request %(number)s is overdue"),
        N_("Request %(number)s held by %(unit)s is past its time limit (%(stage)s). %(url)s"),
    ),
    "supervised": Template(
        N_("Request %(number)s is under supervision"),
        N_("A supervisor has taken up request %(number)s held by %(unit)s: %(note)s %(url)s"),
    ),
    "alert": Template(
        N_("Early warning: %(title)s"),
        N_(
            "A new early warning for %(unit)s: %(title)s (%(count)s requests). See it and acknowledge it at "
            "%(url)s."
        ),
    ),
}

KIND_NAMES: dict[str, Text] = {
    "received": N_("request received"),
    "dispatched": N_("request dispatched"),
    "replied": N_("request replied"),
    "rate": N_("invitation to rate"),
    "reopened": N_("request reopened"),
    "assigned": N_("request assigned to my unit"),
    "overdue": N_("request overdue"),
    "supervised": N_("request supervised"),
    "alert": N_("early warning for my unit"),
}


def render(kind: str, lang: str, params: dict[str, object]) -> tuple[str, str]:
    """The subject and the text of a notification in `lang` ("en", else Chinese)."""
    template = TEMPLATES[kind]
    return gettext(lang, template.subject, **params), gettext(lang, template.text, **params)


def sms_text(subject: str, text: str, url: str) -> str:
    """The SMS: the subject and the link (a reply's full text belongs on the tracking page)."""
    return f"{subject}. {url}" if url else subject
