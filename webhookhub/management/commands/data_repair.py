from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webhookhub.repair import bad_rows_find, bad_rows_repair

PROBLEMS = {
    "surrogate": gettext_lazy("a lone surrogate (not valid Unicode)"),
    "nul": gettext_lazy("the NUL character"),
    "not_finite": gettext_lazy("a number that is not finite (NaN or infinity)"),
    "too_deep": gettext_lazy("JSON nested too deeply"),
    "mobile": gettext_lazy("a mobile not normalised (e.g. full-width digits)"),
}


class Command(BaseCommand):
    help = gettext_lazy(  # type: ignore[assignment]  # BaseCommand.help is read as text, lazily is fine
        "Report stored values the hub now refuses (lone surrogates, NUL, NaN or infinity, full-width mobiles); "
        "with --fix, clean them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help=gettext_lazy("Clean the values found."))

    def handle(self, *args, fix=False, **options):
        findings = bad_rows_find()
        if not findings:
            self.stdout.write(_("No bad values found."))
            return
        if fix:
            bad_rows_repair(findings)
        for finding in findings.values():
            # Ids and field names only: never a value (it may be personal data).
            ids = ", ".join(map(str, finding.ids[:20])) + (" …" if len(finding.ids) > 20 else "")
            line = _("%(field)s: %(count)s rows with %(problem)s (ids %(ids)s)") % {
                "field": finding.label,
                "count": len(finding.ids),
                "problem": PROBLEMS[finding.problem],
                "ids": ids,
            }
            if fix:
                line += _("; repaired %(count)s") % {"count": finding.repaired}
                if finding.conflicts:
                    line += _("; left as they are, they would collide with another row: %(ids)s") % {
                        "ids": ", ".join(map(str, finding.conflicts))
                    }
            self.stdout.write(line)
        if not fix:
            self.stdout.write(_("Run again with --fix to clean them."))
