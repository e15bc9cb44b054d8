from django.db import migrations

# The Grok 4 family reads images (GROK_API.md §8); catalogs seeded before attachments
# existed said otherwise.
GROK_4 = ["grok-4", "grok-4-1-fast", "grok-4-1-fast-non-reasoning"]


def forward(apps, schema_editor):
    ChatModel = apps.get_model("webchat", "ChatModel")
    ChatModel.objects.filter(slug__in=GROK_4, upstream_id__startswith="grok-4").update(
        supports_vision=True
    )


class Migration(migrations.Migration):
    dependencies = [("webchat", "0006_user_manager")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
