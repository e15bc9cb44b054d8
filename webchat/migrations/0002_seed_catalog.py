"""The catalog a fresh database starts with: AceData's Grok models (the admin edits them).

Prices are xAI's published USD per million tokens (AceData publishes none).
"""

from decimal import Decimal

from django.db import migrations

MODELS = [
    # slug, display name, context, max output, $/M in, $/M out, reasoning, streams reasoning, vision
    ("grok-4-1-fast", "Grok 4.1 Fast", 2_000_000, 16_384, "0.20", "0.50", True, False, True),
    ("grok-4", "Grok 4", 256_000, 16_384, "3.00", "15.00", True, False, True),
    ("grok-4-1-fast-non-reasoning", "Grok 4.1 Fast (no reasoning)", 2_000_000, 16_384, "0.20", "0.50", False, False, True),
    ("grok-3", "Grok 3", 131_072, 8_192, "3.00", "15.00", False, False, False),
    ("grok-3-mini", "Grok 3 Mini", 131_072, 8_192, "0.30", "0.50", True, True, False),
    ("grok-2-vision", "Grok 2 Vision", 32_768, 8_192, "2.00", "10.00", False, False, True),
]


def seed(apps, schema_editor):
    ChatModel = apps.get_model("webchat", "ChatModel")
    for position, (slug, name, context, max_out, price_in, price_out, reasoning, streams, vision) in enumerate(MODELS):
        ChatModel.objects.update_or_create(
            slug=slug,
            defaults={
                "upstream_id": slug,
                "display_name": name,
                "position": position * 10,
                "context_window": context,
                "max_output_tokens": max_out,
                "price_input": Decimal(price_in),
                "price_output": Decimal(price_out),
                "supports_reasoning": reasoning,
                "streams_reasoning": streams,
                "supports_vision": vision,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("webchat", "ChatModel").objects.filter(slug__in=[m[0] for m in MODELS]).delete()


class Migration(migrations.Migration):
    dependencies = [("webchat", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
