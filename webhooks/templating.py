"""Message body templates of non-fixed webhooks (docs/contract.md section 6).

`${name}` and `${name!"fallback"}`. In a JSON body, a placeholder inside a string literal is
JSON-escaped; one standing as a whole value becomes a JSON value (number, true/false or string). The
rendered document must parse and is sent in canonical form. TEXT bodies are plain substitution.
A template is compiled once and rendered per recipient, which keeps a 100,000-customer fan-out cheap.
"""

import json
import math
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from webhookhub.text import text_problem

from .signing import canonical_json

PLACEHOLDER = re.compile(r'\$\{\s*([A-Za-z_][\w.]*)\s*(?:!\s*(?:"((?:[^"\\]|\\.)*)")?)?\s*\}')

BUILTIN_NAMES = ("customerId", "flowId", "flowStep", "sendId")
CUSTOMER_BUILTINS = ("name", "mobile", "email", "wechatNickname", "activityScore")
MEMBER_NAMES = ("membershipId", "level", "levelId", "points")
SUBMISSION_NAMES = ("id", "matched", "verified")
PREFIXES = ("customer.", "member.", "form.")


# Private-use characters that mark the holes of a compiled JSON template.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK_RE = re.compile('("?)' + _MARK_OPEN + r"(\d+)" + _MARK_CLOSE + '("?)')


class TemplateError(ValueError):
    """The template cannot render a valid body; the message is for the person who wrote it."""


@dataclass(frozen=True)
class _Slot:
    name: str
    fallback: str | None
    in_string: bool


def _check_name(name: str) -> None:
    if name in BUILTIN_NAMES:
        return
    if name.startswith("member.") and name[len("member.") :] in MEMBER_NAMES:
        return
    if name.startswith("submission.") and name[len("submission.") :] in SUBMISSION_NAMES:
        return
    if name.startswith(("customer.", "form.")) and name.split(".", 1)[1]:
        return
    raise TemplateError(_("Unknown attribute “%(name)s” in ${…}.") % {"name": name})


def _string_state(text: str, in_string: bool) -> bool:
    """Whether a JSON scanner is inside a string literal after `text`."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


class BodyTemplate:
    def __init__(self, source: str, *, message_type: str = "json", empty_text: str = ""):
        self.source = source or ""
        self.is_json = message_type == "json"
        self.empty_text = empty_text or ""
        self._parts: list[str | _Slot] = []
        position, in_string = 0, False
        for match in PLACEHOLDER.finditer(self.source):
            literal = self.source[position : match.start()]
            in_string = _string_state(literal, in_string)
            name, fallback = match.group(1), match.group(2)
            _check_name(name)
            if fallback is not None:
                fallback = fallback.replace('\\"', '"').replace("\\\\", "\\")
            elif match.group(0).rstrip("} ").endswith("!"):
                fallback = ""
            self._parts.extend([literal, _Slot(name, fallback, in_string)])
            position = match.end()
        self._parts.append(self.source[position:])
        self._skeleton = self._compile_skeleton() if self.is_json else None

    @property
    def names(self) -> list[str]:
        return [part.name for part in self._parts if isinstance(part, _Slot)]

    def _value(self, slot: _Slot, context: dict):
        value = context.get(slot.name)
        if value is None or value == "":
            return slot.fallback if slot.fallback is not None else self.empty_text
        return value

    def _piece(self, slot: _Slot, context: dict) -> str:
        value = self._value(slot, context)
        if not self.is_json:
            return _text(value)
        if slot.in_string:
            return json.dumps(_text(value), ensure_ascii=False)[1:-1]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return json.dumps(value)
        return json.dumps(_text(value), ensure_ascii=False)

    def _compile_skeleton(self) -> list[str | _Slot] | None:
        """The canonical document with holes where the placeholders go, or None.

        Parsing and re-serializing the body per recipient is most of a fan-out's cost. A placeholder
        inside a string is escaped, and one standing as a value is a single JSON value, so the
        canonical form of the whole is the canonical form of the template with each hole filled by
        the canonical form of its value. Checked against the full render before it is used.
        """
        marked = []
        for index, part in enumerate(self._parts):
            if isinstance(part, str):
                if _MARK_OPEN in part or _MARK_CLOSE in part:
                    return None
                marked.append(part)
            else:
                mark = f"{_MARK_OPEN}{index}{_MARK_CLOSE}"
                marked.append(mark if part.in_string else f'"{mark}"')
        try:
            canonical = canonical_json(json.loads("".join(marked)))
        except ValueError:
            return None
        skeleton: list[str | _Slot] = []
        position = 0
        for match in _MARK_RE.finditer(canonical):
            slot = self._parts[int(match.group(2))]
            if not isinstance(slot, _Slot):  # only slots were marked; anything else: no skeleton
                return None
            quoted = match.group(1) == '"' and match.group(3) == '"'
            if slot.in_string:
                skeleton.append(canonical[position : match.start()] + match.group(1))
                skeleton.append(slot)
                position = match.end() - len(match.group(3))
            elif quoted:
                skeleton.append(canonical[position : match.start()])
                skeleton.append(slot)
                position = match.end()
            else:
                return None
        skeleton.append(canonical[position:])
        samples: tuple[dict[str, object], ...] = (
            {},
            {name: "a\"b\\c <>&=' 中文\n" for name in self.names},
            {name: 12.5 for name in self.names},
            {name: 2**40 for name in self.names},
            {name: True for name in self.names},
        )
        try:
            if any(self._fill(skeleton, sample) != self._render_full(sample) for sample in samples):
                return None
        except (TemplateError, ValueError):
            return None
        return skeleton

    def _fill(self, skeleton: list[str | _Slot], context: dict) -> str | None:
        out = []
        for piece in skeleton:
            if isinstance(piece, str):
                out.append(piece)
                continue
            value = self._value(piece, context)
            if piece.in_string:
                out.append(canonical_json(_text(value))[1:-1])
            elif isinstance(value, (bool, int, float, str)):
                out.append(canonical_json(value))
            else:
                return None
        return "".join(out)

    def render(self, context: dict) -> str:
        """The body to send: canonical JSON for JSON messages, the substituted text for TEXT.

        Raises TemplateError, and nothing else, for any value that cannot make a body: a number that is
        not finite, a lone surrogate or NUL (which neither UTF-8 nor PostgreSQL can hold). A fan-out
        turns it into that one recipient's failed delivery, and the rest of the send goes on.
        """
        try:
            text = self._render(context)
        except TemplateError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            # ValueError includes UnicodeError and canonical JSON's refusal of NaN and infinity.
            raise TemplateError(
                _("The message cannot be rendered for this recipient: %(reason)s") % {"reason": _reason(exc)}
            ) from exc
        problem = text_problem(text)
        if problem == "surrogate":
            raise TemplateError(
                _("The message holds text that is not valid Unicode (a lone surrogate, e.g. in a customer attribute).")
            )
        if problem == "nul":
            raise TemplateError(_("The message holds the NUL character, which cannot be sent or stored."))
        return text

    def _render(self, context: dict) -> str:
        if self._skeleton is not None:
            try:
                text = self._fill(self._skeleton, context)
            except ValueError as exc:
                raise TemplateError(_("The message body holds a number JSON cannot send.")) from exc
            if text is not None:
                return text
        return self._render_full(context)

    def _render_full(self, context: dict) -> str:
        text = "".join(part if isinstance(part, str) else self._piece(part, context) for part in self._parts)
        if not self.is_json:
            return text
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(
                _("The message body is not valid JSON: %(reason)s (line %(line)s, column %(column)s).")
                % {"reason": exc.msg, "line": exc.lineno, "column": exc.colno}
            ) from exc
        try:
            return canonical_json(document)
        except ValueError as exc:
            raise TemplateError(_("The message body holds a number JSON cannot send.")) from exc


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise TemplateError(_("The message body holds a number that is not finite (NaN or infinity)."))
    return str(value)


def _reason(exc: BaseException) -> str:
    # The exception's own text may quote the bad value (a lone surrogate), which no page can show.
    return type(exc).__name__ if text_problem(str(exc)) else str(exc) or type(exc).__name__


def compile_template(source: str, *, message_type: str = "json", empty_text: str = "") -> BodyTemplate:
    return BodyTemplate(source, message_type=message_type, empty_text=empty_text)


def template_check(source: str, *, message_type: str = "json", empty_text: str = "") -> str:
    """Refuse a template that cannot render a valid body; return a sample rendering.

    Tried with tricky text in every placeholder and again with every placeholder empty, so a
    customer's `"` or an empty attribute can never break the document later.
    """
    template = compile_template(source, message_type=message_type, empty_text=empty_text)
    if message_type == "json" and not source.strip():
        raise TemplateError(_("A JSON message needs a body."))
    template.render({})
    tricky = "a\"b\\c <>&=' 中文"
    template.render({name: tricky for name in template.names})
    template.render({name: 12345 for name in template.names})
    return template.render({name: f"<{name}>" for name in template.names})
