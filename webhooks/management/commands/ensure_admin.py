import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin user if it does not exist, and print its login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))

    def handle(self, *args, **options):
        User = get_user_model()
        username = options["username"]
        user = User.objects.filter(username=username).first()
        password_file = os.path.join("var", "admin-password")
        if user is None:
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(9)
            User.objects.create_superuser(username=username, email="", password=password)
            os.makedirs("var", exist_ok=True)
            with open(password_file, "w") as handle:
                handle.write(password)
            os.chmod(password_file, 0o600)
        elif os.path.exists(password_file):
            with open(password_file) as handle:
                password = handle.read().strip()
        else:
            password = f"(unchanged; set it with: python manage.py changepassword {username})"
        self.stdout.write(self.style.SUCCESS(f"admin login: {username} / {password}"))
