"""Where an imported conversation came from, so that the same file imported again adds
nothing twice. Added by ALTER TABLE, the same on SQLite and PostgreSQL: AddField would have
SQLite copy the table whole, and the copy would lose the search index's triggers. The
column's default stays in the database (Django always writes the value)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0016_no_index_under_a_composite"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="conversation",
                    name="imported_from",
                    field=models.CharField(blank=True, max_length=64),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE conversations_conversation"
                    " ADD COLUMN imported_from varchar(64) NOT NULL DEFAULT ''",
                    "ALTER TABLE conversations_conversation DROP COLUMN imported_from",
                ),
            ],
        ),
    ]
