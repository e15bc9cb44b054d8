from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from conversations.models import Attachment, Conversation, Feedback, Message
from webchat.admin import Fitted, StorableText


@admin.register(Conversation)
class ConversationAdmin(StorableText, admin.ModelAdmin):
    list_display = ("__str__", "owner", "created", "updated")
    search_fields = ("title", "owner__username")
    raw_id_fields = ("owner",)
    # The message on screen moves with the person's own picks: set here, it could name
    # another conversation's message.
    readonly_fields = ("current_leaf",)
    date_hierarchy = "created"


@admin.register(Message)
class MessageAdmin(StorableText, admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "model", "status", "created")
    list_filter = ("role", "status", "model")
    raw_id_fields = ("conversation", "parent")
    # A message's place stays put: moved, it would join one person's thread to another
    # conversation's (or make a loop), and every prompt reads a thread by its parents. Its
    # status is the reply's lifecycle: set to streaming by hand, it would hold its
    # conversation busy for good.
    readonly_fields = (
        "conversation",
        "parent",
        "status",
        "seq",
        "channel",
        "lease_until",
        "rendered",
        "rendered_version",
    )

    def has_add_permission(self, request: Any) -> bool:
        return False  # messages are written in their conversations, not here

    def save_model(self, request: Any, obj: Message, form: Any, change: bool) -> None:
        # Its stored rendering is of the old text: the page renders the new one.
        if "content" in form.changed_data:
            obj.rendered, obj.rendered_version = "", 0
        super().save_model(request, obj, form, change)


@admin.register(Feedback)
class FeedbackAdmin(StorableText, admin.ModelAdmin):
    """What people thought of the replies: filter by rating, model or date."""

    list_display = ("rating", "model", "comment_start", "user", "updated")
    list_filter = ("rating", "model", "updated")
    search_fields = ("comment", "user__username", "message__content")
    raw_id_fields = ("message", "user")
    date_hierarchy = "updated"
    list_select_related = ("user",)

    @admin.display(description=gettext_lazy("comment"))
    def comment_start(self, feedback: Feedback) -> str:
        return feedback.comment[:80] + ("…" if len(feedback.comment) > 80 else "")


@admin.register(Attachment)
class AttachmentAdmin(Fitted, admin.ModelAdmin):
    """Files people attached: who, where, how large; deleting one deletes its file. Its
    content is not shown here (it is the person's): only its owner and share readers see it."""

    list_display = ("name", "kind", "content_type", "size", "owner", "sent", "created")
    list_filter = ("kind", "content_type", "created")
    search_fields = ("name", "owner__username")
    fields = ("name", "owner", "conversation", "message", "kind", "content_type", "size")
    # Who owns it, and where it was sent, are facts: moving it would hand it to someone else.
    readonly_fields = ("owner", "conversation", "message", "kind", "content_type", "size")
    date_hierarchy = "created"
    list_select_related = ("owner",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads come through the composer, checked by content

    @admin.display(boolean=True)
    def sent(self, attachment: Attachment) -> bool:
        return attachment.message_id is not None
