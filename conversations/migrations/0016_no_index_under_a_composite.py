"""A conversation's owner and a message's conversation are each the first column of a
composite index (conversation_owner_updated, message_conversation_status), which serves
every query by them alone too: their own indexes only cost every write. Dropped by name
(the same on SQLite and PostgreSQL): AlterField would have SQLite copy both tables whole,
and the copy would lose the search index's triggers."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = {
    "conversations_conversation_owner_id_67c5670c": ("conversations_conversation", "owner_id"),
    "conversations_message_conversation_id_f1a2d5e9": (
        "conversations_message",
        "conversation_id",
    ),
}


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0015_message_picked"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="conversation",
                    name="owner",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversations",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="conversations.conversation",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")',
                )
                for name, (table, column) in DROPPED.items()
            ],
        ),
    ]
