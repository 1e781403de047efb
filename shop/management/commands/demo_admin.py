"""Create (once) the demo admin account and print its credentials."""
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the demo superuser if missing and print its credentials."

    def handle(self, *args, **options):
        # The password is generated once and kept beside the database, so a second run
        # prints the same working credentials instead of resetting them.
        secret_file = settings.VAR_DIR / "admin-password.txt"
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(12))
            secret_file.chmod(0o600)
        password = secret_file.read_text().strip()
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=USERNAME, defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        self.stdout.write(f"Admin login: {USERNAME} / {password}")
