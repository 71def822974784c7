"""What the hub stores and renders: valid Unicode text and finite numbers, checked in one place.

A lone surrogate (a JSON escape such as \\ud800 with no partner) cannot be encoded as UTF-8, so a
page, a message body or a PostgreSQL row holding one fails; PostgreSQL text and jsonb refuse NUL;
NaN and infinity are not JSON numbers. Forms, the CSV import, the Open API and micro-pages refuse them
with these messages; `repaired_text` and `repaired_json` clean rows stored before (`manage.py data_repair`).
"""

import math
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_TEXT = re.compile("[\ud800-\udfff\x00]")
# Objects nested deeper than this are refused rather than walked (a hostile body could recurse).
MAX_DEPTH = 32

MESSAGES = {
    "surrogate": _(
        "It holds a character that is not valid Unicode text (a lone surrogate, such as the escape \\ud800); "
        "remove or retype it."
    ),
    "nul": _("It holds the NUL character (\\u0000), which cannot be stored; remove it."),
    "not_finite": _("It holds a number that is not finite (NaN or infinity); enter an ordinary number."),
    "too_deep": _("It is nested too deeply."),
    "control": _("It holds a line break or another control character; type it on one line."),
}
# Characters a one-line value (a name) may not hold: C0 controls (CR, LF, TAB…), DEL, C1 controls, and
# the Unicode line and paragraph separators. A mail subject or a robot's title would break on them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def json_text_depth_exceeded(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether a JSON text (or a JSON template) opens more than `limit` arrays and objects inside one
    another: counted over the characters, before any parser recurses (Python's json gives up with a
    RecursionError, a 500, at about 1,000 levels). Brackets inside strings do not count."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def validate_json_text(value, label=None) -> None:
    """Refuse a JSON text nested deeper than MAX_DEPTH, before it is parsed: the one check for every JSON
    a person or a client sends (custom attributes, body templates, Open API bodies)."""
    if isinstance(value, str) and json_text_depth_exceeded(value):
        raise _error("too_deep", label)


def one_line(text: str) -> str:
    """`text` with every control character folded to a space: for a mail subject or a title built from a
    name stored before names were checked, so the alert still goes out."""
    return _CONTROL.sub(" ", text)


def validate_one_line(value, label=None) -> None:
    """Refuse a name holding a line break or another control character (and a lone surrogate or NUL)."""
    if isinstance(value, str):
        validate_text(value, label)
        if _CONTROL.search(value):
            raise _error("control", label)


def text_problem(value: str) -> str | None:
    """The code of what is wrong with a text ("surrogate", "nul"), or None when it is fine."""
    match = _BAD_TEXT.search(value)
    if match is None:
        return None
    return "nul" if match.group() == "\x00" else "surrogate"


def json_problem(value, depth: int = 0) -> str | None:
    """The code of the first problem in a JSON-like value (texts, keys, numbers), or None."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, float):
        return None if math.isfinite(value) else "not_finite"
    if isinstance(value, dict | list | tuple):
        if depth >= MAX_DEPTH:
            return "too_deep"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            problem = (isinstance(key, str) and text_problem(key)) or json_problem(item, depth + 1)
            if problem:
                return problem
    return None


def _error(problem: str, label=None) -> ValidationError:
    message = MESSAGES[problem]
    if label is not None:
        return ValidationError(
            _("%(label)s: %(problem)s"), code=f"invalid_{problem}", params={"label": label, "problem": message}
        )
    return ValidationError(message, code=f"invalid_{problem}")


def validate_text(value, label=None) -> None:
    """Refuse a text with a lone surrogate or NUL; `label` names it in the message (a field, a column)."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise _error(problem, label)


def validate_json(value, label=None) -> None:
    """Refuse a JSON-like value holding a bad text (value or key) or a number that is not finite."""
    problem = json_problem(value)
    if problem:
        raise _error(problem, label)


def text_validated(field):
    """A form field whose text is checked here (Django's own NUL check left out, so one message says why)."""
    from django.core.validators import ProhibitNullCharactersValidator

    field.validators = [v for v in field.validators if not isinstance(v, ProhibitNullCharactersValidator)]
    field.validators.append(validate_text)
    return field


def displayable(text: str) -> str:
    """A text safe to put in a page: lone surrogates shown as their escapes, NUL as \\u0000."""
    return _BAD_TEXT.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def repaired_text(value: str) -> str:
    """Lone surrogates become U+FFFD (the replacement character) and NUL is dropped."""
    return _LONE_SURROGATE.sub("\ufffd", value).replace("\x00", "")


def repaired_json(value, depth: int = 0):
    """The value with every text repaired and every number that is not finite replaced by null."""
    if isinstance(value, str):
        return repaired_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {
            (repaired_text(key) if isinstance(key, str) else key): repaired_json(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [repaired_json(item, depth + 1) for item in value]
    return value
