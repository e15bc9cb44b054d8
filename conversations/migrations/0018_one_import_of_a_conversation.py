"""A conversation imported is shown once per person, even when two processes import the
same file at once. A conditional unique index (SQLite creates it without copying the
table, so the search index's triggers stay). Copies two such imports made before it are
all kept; all but one are no longer marked as imported."""

from django.db import migrations, models


def unmark_copies(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    seen = set()
    copies = []
    rows = (
        Conversation.objects.filter(temporary=False)
        .exclude(imported_from="")
        .order_by("created", "id")
        .values_list("pk", "owner_id", "imported_from")
    )
    for pk, owner, source in rows.iterator():
        if (owner, source) in seen:
            copies.append(pk)
        seen.add((owner, source))
    Conversation.objects.filter(pk__in=copies).update(imported_from="")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0017_conversation_imported_from"),
    ]

    operations = [
        migrations.RunPython(unmark_copies, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="conversation",
            constraint=models.UniqueConstraint(
                condition=models.Q(temporary=False) & ~models.Q(imported_from=""),
                fields=("owner", "imported_from"),
                name="one_import_of_a_conversation",
            ),
        ),
    ]
