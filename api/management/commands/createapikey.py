"""`manage.py createapikey <username> [--name N]`: a key for a person's programs, printed as
the last word of the output (shown this once)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.keys import make_key
from webchat.models import User


class Command(BaseCommand):
    help = "Create an API key for a person; the key is the last word printed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="Created from the shell")
        parser.add_argument(
            "--tokens-per-month", type=int, default=None, help="The key's own monthly cap."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No person is called {options['username']!r}.") from None
        cap = options["tokens_per_month"]
        if cap is not None and cap < 1:
            raise CommandError("--tokens-per-month must be at least 1.")
        name = " ".join(options["name"].split())[:100] or "Created from the shell"
        key, secret = make_key(user, {"name": name, "tokens_per_month": cap})
        self.stdout.write(f"Created the key “{key.name}” for {user.username}: {secret}")
