from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from webchat.models import ChatModel, User

admin.site.register(User, UserAdmin)


@admin.register(ChatModel)
class ChatModelAdmin(admin.ModelAdmin):
    list_display = (
        "slug",
        "display_name",
        "upstream_id",
        "enabled",
        "position",
        "context_window",
        "price_input",
        "price_output",
    )
    list_editable = ("enabled", "position")
    list_filter = ("enabled", "supports_reasoning", "supports_vision")
    search_fields = ("slug", "display_name", "upstream_id")
