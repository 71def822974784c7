"""Rows stored before the hub refused bad text: find them and clean them (`manage.py data_repair`).

Every text, e-mail, slug, URL and JSON column of the hub's own apps is read in chunks; secrets are not
(they are ciphertext). A repaired text has U+FFFD for each lone surrogate and no NUL; a repaired JSON
value has null for each number that is not finite; a repaired mobile is normalised (full-width digits
to ASCII). A row whose repair would collide with a unique value (two customers, one mobile) is left
as it is and reported.
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.db import IntegrityError, models, transaction

from customers.validators import normalize_mobile

from .text import json_problem, repaired_json, repaired_text, text_problem

APPS = ("customers", "webhooks", "automation", "api")
CHUNK = 2000


@dataclass
class Finding:
    label: str  # app_label.Model.field
    problem: str  # surrogate, nul, not_finite, too_deep, mobile
    ids: list = field(default_factory=list)
    repaired: int = 0
    conflicts: list = field(default_factory=list)


def _checked_fields(model) -> list[models.Field]:
    from webhooks.secrets import EncryptedTextField

    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField | models.JSONField)
        and not isinstance(f, EncryptedTextField)
        and not f.primary_key
    ]


def _problem(field_, value) -> str | None:
    if value is None:
        return None
    if isinstance(field_, models.JSONField):
        return json_problem(value)
    return text_problem(value) if isinstance(value, str) else None


def _repaired(field_, value):
    if isinstance(field_, models.JSONField):
        return repaired_json(value)
    value = repaired_text(value)
    if field_.name == "mobile" and field_.model._meta.label == "customers.Customer":
        value = normalize_mobile(value)
    return value


def bad_rows_find() -> dict[str, Finding]:
    """Every bad value of the hub's apps, by model, field and problem."""
    findings: dict[str, Finding] = {}
    for app_label in APPS:
        for model in apps.get_app_config(app_label).get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            fields = _checked_fields(model)
            if not fields:
                continue
            names = [f.attname for f in fields]
            rows = model._base_manager.order_by("pk").values_list("pk", *names)
            for pk, *values in rows.iterator(chunk_size=CHUNK):
                for field_, value in zip(fields, values, strict=True):
                    problem = _problem(field_, value)
                    if problem is None and model._meta.label == "customers.Customer" and field_.name == "mobile":
                        problem = "mobile" if value and normalize_mobile(value) != value else None
                    if problem:
                        key = f"{model._meta.label}.{field_.name}"
                        findings.setdefault(key, Finding(label=key, problem=problem)).ids.append(pk)
    return findings


def bad_rows_repair(findings: dict[str, Finding]) -> dict[str, Finding]:
    """Clean each value found; each row in its own savepoint, so one conflict stops nothing else."""
    for finding in findings.values():
        model_label, field_name = finding.label.rsplit(".", 1)
        model = apps.get_model(model_label)
        field_ = model._meta.get_field(field_name)
        for pk in finding.ids:
            value = model._base_manager.filter(pk=pk).values_list(field_.attname, flat=True).first()
            try:
                with transaction.atomic():
                    model._base_manager.filter(pk=pk).update(**{field_.attname: _repaired(field_, value)})
            except IntegrityError:
                finding.conflicts.append(pk)
            else:
                finding.repaired += 1
    return findings
