from django.contrib import admin

from conversations.models import Conversation, Feedback, Message
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


@admin.register(Feedback)
class FeedbackAdmin(StorableText, admin.ModelAdmin):
    """What people thought of the replies: filter by rating, model or date."""

    list_display = ("rating", "model", "comment_start", "user", "updated")
    list_filter = ("rating", "model", "updated")
    search_fields = ("comment", "user__username", "message__content")
    raw_id_fields = ("message", "user")
    date_hierarchy = "updated"
    list_select_related = ("user",)

    @admin.display(description="comment")
    def comment_start(self, feedback: Feedback) -> str:
        return feedback.comment[:80] + ("…" if len(feedback.comment) > 80 else "")
