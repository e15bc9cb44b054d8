from django.contrib import admin

from conversations.models import Conversation, Message
from webchat.admin import StorableText


@admin.register(Conversation)
class ConversationAdmin(StorableText, admin.ModelAdmin):
    list_display = ("__str__", "owner", "created", "updated")
    search_fields = ("title", "owner__username")
    raw_id_fields = ("owner", "current_leaf")
    date_hierarchy = "created"


@admin.register(Message)
class MessageAdmin(StorableText, admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "model", "status", "created")
    list_filter = ("role", "status", "model")
    raw_id_fields = ("conversation", "parent")
    readonly_fields = ("seq", "channel", "lease_until")
