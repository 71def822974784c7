"""The names a message body template can use: the one list, with their labels.

templating.py checks names against it, payloads.py fills them (tests/integration/test_body_help.py holds the two
together), and the webhook form's attribute picker, its starter templates and the warnings about
names nothing can fill are built from it here. The picker's script has no list of its own.
"""

import difflib
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _


class Use:
    """The uses of a non-fixed webhook, each with its starter template."""

    GROUP_SEND = "group_send"
    FLOW = "flow"
    FORM = "form"


@dataclass(frozen=True)
class Name:
    name: str
    label: str | Promise


CUSTOMER_NAMES = (
    Name("customer.name", _("Name")),
    Name("customer.mobile", _("Mobile")),
    Name("customer.email", _("Email")),
    Name("customer.wechatNickname", _("WeChat nickname")),
    Name("customer.activityScore", _("Activity score")),
    Name("customer.id", _("Customer ID")),
)
MEMBER_NAMES_SPEC = (
    Name("member.membershipId", _("Membership ID")),
    Name("member.level", _("Membership level")),
    Name("member.levelId", _("Membership level ID")),
    Name("member.points", _("Points")),
)
TRIGGER_NAMES = (
    Name("customerId", _("Customer ID")),
    Name("flowId", _("Automation flow ID")),
    Name("flowStep", _("Step of the flow (from 1)")),
    Name("sendId", _("Group send ID")),
)
SUBMISSION_NAMES_SPEC = (
    Name("submission.id", _("Submission ID")),
    Name("submission.matched", _("Mobile matched an existing customer")),
    Name("submission.verified", _("Counts as that customer's")),
)

# What templating.py accepts: these exact names, and any key after these prefixes.
FIXED_NAMES = frozenset(n.name for n in (*CUSTOMER_NAMES, *MEMBER_NAMES_SPEC, *TRIGGER_NAMES, *SUBMISSION_NAMES_SPEC))
OPEN_PREFIXES = ("customer.", "form.")
CUSTOMER_BUILTIN_KEYS = frozenset(n.name.split(".", 1)[1] for n in CUSTOMER_NAMES)

# The picker lists at most this many custom attribute keys and micro-pages; the keys are read from the
# newest customers only, so the list costs the same at 100,000 customers as at 100.
ATTRIBUTE_KEYS_LIMIT = 100
ATTRIBUTE_SAMPLE = 2000
PAGES_LIMIT = 100
# The names of one template checked against the whole table (each a scan when nothing has it).
WARNING_CHECKS_LIMIT = 20


def name_is_valid(name: str) -> bool:
    if name in FIXED_NAMES:
        return True
    prefix, _sep, rest = name.partition(".")
    return bool(rest) and f"{prefix}." in OPEN_PREFIXES


def name_suggestion(name: str, known: tuple[str, ...] = ()) -> str | None:
    """The valid name a misspelt one most likely meant (custmer.name → customer.name); `known` adds
    the names the data holds (custom attributes, form fields)."""
    candidates = [*FIXED_NAMES, *known]
    _prefix, _sep, rest = name.partition(".")
    if rest:
        candidates += [f"{open_prefix}{rest}" for open_prefix in OPEN_PREFIXES]
    candidates = [candidate for candidate in candidates if candidate != name]
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return found[0] if found else None


# --- What the data holds ---------------------------------------------------------------------------


def _sampled_attribute_keys() -> set[str]:
    from customers.models import Customer

    keys: set[str] = set()
    for attributes in Customer.objects.order_by("-pk").values_list("attributes", flat=True)[:ATTRIBUTE_SAMPLE]:
        if isinstance(attributes, dict):
            keys.update(key for key in attributes if isinstance(key, str))
    return keys - CUSTOMER_BUILTIN_KEYS


def custom_attribute_keys(*, limit: int = ATTRIBUTE_KEYS_LIMIT) -> list[str]:
    """Custom attribute keys in use, from the newest customers (bounded: one indexed read)."""
    return sorted(_sampled_attribute_keys())[:limit]


def _attribute_in_use(key: str) -> bool:
    from customers.models import Customer

    return Customer.objects.filter(attributes__has_key=key).exists()


def _form_key_in_use(key: str) -> bool:
    from automation.models import FormField

    return FormField.objects.filter(key=key).exists()


def _known_names() -> tuple[str, ...]:
    from automation.models import FormField

    form_keys = FormField.objects.values_list("key", flat=True).distinct()[:ATTRIBUTE_KEYS_LIMIT]
    return (*(f"customer.{key}" for key in custom_attribute_keys()), *(f"form.{key}" for key in form_keys))


def micro_pages(*, webhook=None) -> list[dict]:
    """Micro-pages with their form fields for the picker: the webhook's own pages first."""
    from automation.models import FormField, MicroPage

    pages = list(MicroPage.objects.order_by("-pk").only("pk", "title")[:PAGES_LIMIT])
    if webhook is not None and webhook.pk:
        own = set(MicroPage.objects.filter(webhooks=webhook).values_list("pk", flat=True))
        pages.sort(key=lambda page: page.pk not in own)
    fields: dict[int, list[dict]] = {}
    for field in FormField.objects.filter(page__in=pages).order_by("order", "pk"):
        fields.setdefault(field.page_id, []).append({"name": f"form.{field.key}", "label": field.label})
    return [
        {
            "id": page.pk,
            "title": page.title,
            "fields": fields.get(page.pk, []),
            "starter": form_starter([name["name"] for name in fields.get(page.pk, [])]),
        }
        for page in pages
    ]


# --- The picker, the starters, the warnings --------------------------------------------------------


def _names(specs) -> list[dict]:
    return [{"name": spec.name, "label": str(spec.label)} for spec in specs]


def picker_catalogue(*, webhook=None) -> dict:
    """Everything the attribute picker shows, labelled in the active language; JSON-ready."""
    return {
        "groups": [
            # Each field once: the customer's ID is DM Hub's ${customerId}, listed here and not again
            # under the flow (${customer.id} still renders the same value).
            {
                "key": "customer",
                "label": _t("Customer attributes"),
                "names": _names(
                    [n for n in CUSTOMER_NAMES if n.name != "customer.id"]
                    + [n for n in TRIGGER_NAMES if n.name == "customerId"]
                ),
            },
            {
                "key": "custom",
                "label": _t("Custom customer attributes"),
                "names": [{"name": f"customer.{key}", "label": key} for key in custom_attribute_keys()],
            },
            {"key": "member", "label": _t("Member attributes"), "names": _names(MEMBER_NAMES_SPEC)},
            {
                "key": "flow",
                "label": _t("Automation flow"),
                "names": _names([n for n in TRIGGER_NAMES if n.name in ("flowId", "flowStep")]),
            },
            {
                "key": "send",
                "label": _t("Group send"),
                "names": _names([n for n in TRIGGER_NAMES if n.name == "sendId"]),
            },
            {"key": "submission", "label": _t("Micro-page form"), "names": _names(SUBMISSION_NAMES_SPEC)},
        ],
        "pages": micro_pages(webhook=webhook),
        "starters": starters(),
    }


# DM Hub's default body, which its automation flows send; a new webhook's default (Webhook.body_template).
DEFAULT_BODY_TEMPLATE = '{"flowId":"${flowId}","flowStep":"${flowStep}","customerId":"${customerId}"}'

GROUP_SEND_STARTER = (
    '{\n  "sendId": ${sendId},\n  "customerId": ${customerId},\n  "name": "${customer.name}",\n'
    '  "mobile": "${customer.mobile}",\n  "level": "${member.level!""}"\n}'
)


def form_starter(field_names: list[str]) -> str:
    fields = field_names or ["form.mobile"]
    lines = ",\n".join(f'    "{name.split(".", 1)[1]}": "${{{name}}}"' for name in fields)
    return (
        '{\n  "submissionId": ${submission.id},\n  "customerId": "${customerId}",\n'
        f'  "matched": ${{submission.matched}},\n  "form": {{\n{lines}\n  }}\n}}'
    )


def starters() -> list[dict]:
    return [
        {"key": Use.GROUP_SEND, "label": _t("Group send"), "body": GROUP_SEND_STARTER},
        {"key": Use.FLOW, "label": _t("Automation flow (DM Hub's default)"), "body": DEFAULT_BODY_TEMPLATE},
        {"key": Use.FORM, "label": _t("Micro-page form"), "body": form_starter([])},
    ]


def starter_for_use(use: str | None) -> str:
    """A new webhook's body by what it is for (?use=flow|form|group_send); a group send when not said,
    the seed's first use after creating a webhook (发送消息 › 群发)."""
    bodies = {starter["key"]: starter["body"] for starter in starters()}
    return bodies.get(use or "", bodies[Use.GROUP_SEND])


def template_warnings(names) -> list[str]:
    """Why some names of a template will always be empty: no customer has the attribute, no form the field.

    Not an error: the attribute may be imported tomorrow. Each distinct name is checked once, at most
    WARNING_CHECKS_LIMIT of them, so a save costs a handful of queries whatever the template.
    """
    warnings = []
    checked = 0
    known: tuple[str, ...] | None = None
    sampled: set[str] | None = None
    for name in dict.fromkeys(names):
        if name in FIXED_NAMES or not name_is_valid(name):
            continue
        prefix, _sep, key = name.partition(".")
        if prefix == "customer" and key in CUSTOMER_BUILTIN_KEYS:
            continue
        if checked >= WARNING_CHECKS_LIMIT:
            break
        checked += 1
        if prefix == "customer" and sampled is None:
            sampled = _sampled_attribute_keys()  # most keys in use are found here, without a scan
        if prefix == "customer" and key not in (sampled or ()) and not _attribute_in_use(key):
            missing = "customer"
        elif prefix == "form" and not _form_key_in_use(key):
            missing = "form"
        else:
            continue
        if known is None:
            known = _known_names()
        values = {"key": key, "name": name, "suggestion": name_suggestion(name, known)}
        # One sentence per case, so that each language joins its own clauses.
        if missing == "customer" and values["suggestion"]:
            text = _t(
                "No customer has the attribute “%(key)s”: ${%(name)s} will always be empty. "
                "Did you mean ${%(suggestion)s}?"
            )
        elif missing == "customer":
            text = _t("No customer has the attribute “%(key)s”: ${%(name)s} will always be empty.")
        elif values["suggestion"]:
            text = _t(
                "No micro-page form has the field “%(key)s”: ${%(name)s} will always be empty. "
                "Did you mean ${%(suggestion)s}?"
            )
        else:
            text = _t("No micro-page form has the field “%(key)s”: ${%(name)s} will always be empty.")
        warnings.append(text % values)
    return warnings
