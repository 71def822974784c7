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
from django.utils.translation import gettext_lazy

from webhookhub.text import MAX_DEPTH, json_text_depth_exceeded, text_problem
from webhooks.content.body_fields import name_is_valid, name_suggestion
from webhooks.content.signing import canonical_json

# A body template is checked and saved up to this size (UTF-8), in the admin and the Open API alike
# (Webhook.clean and the live check both go through template_check): every delivery stores its rendering.
MAX_TEMPLATE_BYTES = 64 * 1024
PLACEHOLDER = re.compile(r'\$\{\s*([A-Za-z_][\w.]*)\s*(?:!\s*(?:"((?:[^"\\]|\\.)*)")?)?\s*\}')


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


def line_column(source: str, position: int) -> tuple[int, int]:
    """1-based line and column of a position in the template as typed (a column counts characters)."""
    position = max(0, min(position, len(source)))
    line = source.count("\n", 0, position) + 1
    return line, position - (source.rfind("\n", 0, position) + 1) + 1


def _check_name(name: str, source: str, position: int) -> None:
    if name_is_valid(name):
        return
    line, column = line_column(source, position)
    values = {"name": name, "line": line, "column": column, "suggestion": name_suggestion(name)}
    if values["suggestion"]:
        message = _(
            "Unknown attribute “%(name)s” in ${…} at line %(line)s, column %(column)s. Did you mean ${%(suggestion)s}?"
        )
    else:
        message = _("Unknown attribute “%(name)s” in ${…} at line %(line)s, column %(column)s.")
    raise TemplateError(message % values)


# json's messages, in words a marketer reads (the parser's English is kept for anything else).
_JSON_REASONS = {
    "Expecting ',' delimiter": gettext_lazy("a comma is missing"),
    "Expecting ':' delimiter": gettext_lazy("a colon is missing"),
    "Expecting property name enclosed in double quotes": gettext_lazy("a name in double quotes is expected"),
    "Expecting value": gettext_lazy("a value is missing"),
    "Unterminated string starting at": gettext_lazy('this string is not closed (a " is missing)'),
    "Extra data": gettext_lazy("there is more text after the end of the JSON document"),
    "Invalid control character at": gettext_lazy("a line break or tab inside a string (write \\n or \\t)"),
    "Invalid \\escape": gettext_lazy("an invalid escape with \\"),
    "Invalid \\uXXXX escape": gettext_lazy("an invalid escape with \\"),
}


def _json_reason(text: str, exc: json.JSONDecodeError) -> tuple[str, int]:
    """What is wrong, and at which position of `text` to point."""
    before = text[: exc.pos].rstrip()
    here = text[exc.pos : exc.pos + 1]
    if before.endswith(",") and here in ("}", "]"):
        return _("a comma too many before %(bracket)s") % {"bracket": here}, len(before) - 1
    if here == "'":
        return _("use double quotes \" instead of single quotes '"), exc.pos
    if not text[exc.pos :].strip() and exc.msg != "Unterminated string starting at":
        return _("the document ends too early (a value or a closing bracket is missing)"), exc.pos
    reason = _JSON_REASONS.get(exc.msg)
    return (str(reason) if reason else exc.msg), exc.pos


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


# Objects and lists nested deeper than this are refused: parsing and writing a JSON document recurses, and a
# body of 50,000 "[" would end in RecursionError (a 500) instead of a message. Real bodies stay far below it.
MAX_JSON_DEPTH = 100


def _check_depth(source: str) -> None:
    """Refuse a JSON template nested deeper than MAX_JSON_DEPTH, counted without parsing (strings skipped)."""
    depth, in_string, escaped = 0, False, False
    # Placeholders (whose fallbacks may hold quotes) blanked out, keeping positions for the message.
    blanked = PLACEHOLDER.sub(lambda match: "0" * len(match.group()), source)
    for position, char in enumerate(blanked):
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
            if depth > MAX_JSON_DEPTH:
                line, column = line_column(source, position)
                raise TemplateError(
                    _(
                        "The message body is nested too deeply: at most %(max)s levels of objects and lists "
                        "(line %(line)s, column %(column)s)."
                    )
                    % {"max": MAX_JSON_DEPTH, "line": line, "column": column}
                )
        elif char in "]}":
            depth -= 1


class BodyTemplate:
    def __init__(self, source: str, *, message_type: str = "json", empty_text: str = ""):
        self.source = source or ""
        self.is_json = message_type == "json"
        self.empty_text = empty_text or ""
        if self.is_json:
            _check_depth(self.source)
        self._parts: list[str | _Slot] = []
        # Where each part stands in the source: an error in the rendered text points at what was typed.
        self._starts: list[int] = []
        position, in_string = 0, False
        for match in PLACEHOLDER.finditer(self.source):
            literal = self.source[position : match.start()]
            in_string = _string_state(literal, in_string)
            name, fallback = match.group(1), match.group(2)
            _check_name(name, self.source, match.start())
            if fallback is not None:
                fallback = fallback.replace('\\"', '"').replace("\\\\", "\\")
            elif match.group(0).rstrip("} ").endswith("!"):
                fallback = ""
            self._parts.extend([literal, _Slot(name, fallback, in_string)])
            self._starts.extend([position, match.start()])
            position = match.end()
        self._parts.append(self.source[position:])
        self._starts.append(position)
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

    def _source_position(self, pieces: list[str], position: int) -> int:
        """The position in the source of a position in the rendered text: a literal maps character for
        character, a placeholder's value to the placeholder's start."""
        offset = 0
        for piece, part, start in zip(pieces, self._parts, self._starts, strict=True):
            if position < offset + len(piece):
                return start + (position - offset) if isinstance(part, str) else start
            offset += len(piece)
        return len(self.source)

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
        pieces = [part if isinstance(part, str) else self._piece(part, context) for part in self._parts]
        text = "".join(pieces)
        if not self.is_json:
            return text
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            reason, position = _json_reason(text, exc)
            line, column = line_column(self.source, self._source_position(pieces, position))
            raise TemplateError(
                _("The message body is not valid JSON: %(reason)s, near line %(line)s, column %(column)s.")
                % {"reason": reason, "line": line, "column": column}
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
    """The template compiled, or TemplateError: a JSON template nested too deeply is refused before any
    parser recurses (the admin's preview, its live check, the form, the Open API and the engine)."""
    if message_type == "json" and json_text_depth_exceeded(source):
        raise TemplateError(
            _("The message body is nested too deeply: at most %(max)s levels of objects and arrays.")
            % {"max": MAX_DEPTH}
        )
    return BodyTemplate(source, message_type=message_type, empty_text=empty_text)


def template_check(source: str, *, message_type: str = "json", empty_text: str = "") -> str:
    """Refuse a template that cannot render a valid body; return a sample rendering.

    Tried with tricky text in every placeholder and again with every placeholder empty, so a
    customer's `"` or an empty attribute can never break the document later.
    """
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        raise TemplateError(
            _("The message body is too large: at most %(max)s KB (this one is %(size)s KB).")
            % {"max": MAX_TEMPLATE_BYTES // 1024, "size": f"{size / 1024:,.1f}"}
        )
    template = compile_template(source, message_type=message_type, empty_text=empty_text)
    if message_type == "json" and not source.strip():
        raise TemplateError(_("A JSON message needs a body."))
    template.render({})
    tricky = "a\"b\\c <>&=' 中文"
    template.render({name: tricky for name in template.names})
    template.render({name: 12345 for name in template.names})
    return template.render({name: f"<{name}>" for name in template.names})
