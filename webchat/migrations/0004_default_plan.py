"""A default plan with generous limits, given to every existing and new account."""

from django.db import migrations


def seed(apps, schema_editor):
    Plan = apps.get_model("webchat", "Plan")
    User = apps.get_model("webchat", "User")
    plan, _ = Plan.objects.get_or_create(
        name="Standard",
        defaults={
            "tokens_per_day": 500_000,
            "tokens_per_month": 5_000_000,
            "requests_per_minute": 30,
            "concurrent_generations": 3,
            "max_tokens_cap": 16_384,
            "is_default": True,
        },
    )
    User.objects.filter(plan__isnull=True).update(plan=plan)


class Migration(migrations.Migration):
    dependencies = [("webchat", "0003_plans_and_ledger")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
