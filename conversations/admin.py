from django.contrib import admin

from conversations.models import Conversation, Message


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "created", "updated")
    search_fields = ("title", "owner__username")
    raw_id_fields = ("owner", "current_leaf")
    date_hierarchy = "created"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "model", "status", "created")
    list_filter = ("role", "status", "model")
    raw_id_fields = ("conversation", "parent")
    readonly_fields = ("seq", "channel", "lease_until")
