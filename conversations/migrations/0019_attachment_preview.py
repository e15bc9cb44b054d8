"""A large image's small preview, which a message shows in its place, and its bytes (counted
in its owner's storage). Images stored before have none until `manage.py makepreviews`."""

from django.db import migrations, models

import conversations.models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0018_one_import_of_a_conversation")]

    operations = [
        migrations.AddField(
            model_name="attachment",
            name="preview",
            field=models.FileField(
                blank=True, max_length=300, upload_to=conversations.models._attachment_path
            ),
        ),
        migrations.AddField(
            model_name="attachment",
            name="preview_size",
            field=models.PositiveIntegerField(default=0, help_text="Bytes of the preview."),
        ),
    ]
