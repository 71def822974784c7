from django.core.management.base import BaseCommand

from webhookhub.repair import bad_rows_find, bad_rows_repair

PROBLEMS = {
    "surrogate": "lone surrogate (not valid Unicode)",
    "nul": "NUL character",
    "not_finite": "number that is not finite (NaN or infinity)",
    "too_deep": "JSON nested too deeply",
    "mobile": "mobile not normalised (e.g. full-width digits)",
}


class Command(BaseCommand):
    help = (
        "Report stored values the hub now refuses (lone surrogates, NUL, NaN or infinity, full-width mobiles); "
        "with --fix, clean them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Clean the values found (default: only report).")

    def handle(self, *args, fix=False, **options):
        findings = bad_rows_find()
        if not findings:
            self.stdout.write("No bad values found.")
            return
        if fix:
            bad_rows_repair(findings)
        for finding in findings.values():
            ids = ", ".join(map(str, finding.ids[:20])) + (" …" if len(finding.ids) > 20 else "")
            line = f"{finding.label}: {len(finding.ids)} rows with a {PROBLEMS[finding.problem]} (ids {ids})"
            if fix:
                line += f"; repaired {finding.repaired}"
                if finding.conflicts:
                    line += f"; left as they are (would collide with another row): {finding.conflicts}"
            self.stdout.write(line)
        if not fix:
            self.stdout.write("Run again with --fix to clean them.")
