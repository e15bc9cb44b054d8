"""A usage record's person is the first column of usage_user_created and usage_user_status,
which serve every query by the person alone too: its own index only cost every send a
write. Dropped by name (the same on SQLite and PostgreSQL): AlterField would have SQLite
copy the whole ledger."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

NAME = "webchat_usagerecord_user_id_2ce92c87"


class Migration(migrations.Migration):
    dependencies = [
        ("webchat", "0013_username_unique_any_case"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="usagerecord",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="usage_records",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{NAME}"',
                    f'CREATE INDEX IF NOT EXISTS "{NAME}" ON "webchat_usagerecord" ("user_id")',
                ),
            ],
        ),
    ]
