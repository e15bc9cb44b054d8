"""A person's own defaults, saved prompts and data: the settings page (`/settings/`).

New conversations start from the defaults (conversations.views._chat_context); a saved
prompt goes into the composer by typing `/` and part of its name (static/js/prompts.js).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from conversations import archive
from conversations.files import MB
from conversations.models import MAX_PROMPT_CHARS, MAX_PROMPTS, SavedPrompt
from webchat.errors import ChatError
from webchat.models import ChatModel


class DefaultsForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("The browser's language")), *settings.LANGUAGES],
        help_text=_("The language of the pages. Replies are in whatever language you write."),
    )
    default_model = forms.ChoiceField(label=_("Default model"), required=False)
    custom_instructions = forms.CharField(
        label=_("Custom instructions"),
        required=False,
        strip=False,
        max_length=settings.CHAT_MAX_MESSAGE_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("The system prompt your new conversations start with."),
    )
    default_temperature = forms.FloatField(
        label=_("Temperature"),
        required=False,
        min_value=0,
        max_value=2,
        widget=forms.NumberInput(attrs={"step": "0.1", "placeholder": _("model default")}),
        help_text=_("From 0, focused and repeatable, to 2, varied and surprising."),
    )
    default_max_tokens = forms.IntegerField(
        label=_("Longest reply (tokens)"),
        required=False,
        min_value=1,
        max_value=1_000_000,
        widget=forms.NumberInput(attrs={"placeholder": _("model default")}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        models = ChatModel.objects.enabled().values_list("slug", "display_name")
        self.fields["default_model"].choices = [("", _("The site's first model")), *models]


class PromptForm(forms.ModelForm):
    text = forms.CharField(
        label=_("Text"),
        max_length=MAX_PROMPT_CHARS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    class Meta:
        model = SavedPrompt
        fields = ["name", "text"]
        labels = {"name": _("Name")}
        help_texts = {"name": _("Type / and the name in the composer to insert it.")}

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        mine = SavedPrompt.objects.filter(owner=self.instance.owner_id, name=name)
        if mine.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("You already have a prompt with this name."))
        return name


def _page(
    request: HttpRequest,
    defaults: DefaultsForm | None = None,
    refused: PromptForm | None = None,
    status: int = 200,
    import_error: str = "",
) -> HttpResponse:
    user = request.user
    initial = {
        "language": user.language,
        "default_model": user.default_model,
        "custom_instructions": user.custom_instructions,
        "default_temperature": user.default_temperature,
        "default_max_tokens": user.default_max_tokens,
    }
    # A refused form is shown with its errors, in place of the one it came from.
    refused_id = refused.instance.pk if refused is not None else None
    prompts = [
        (p, refused if p.pk == refused_id else PromptForm(instance=p, prefix=f"p{p.pk}"))
        for p in user.saved_prompts.all()
    ]
    new = refused if refused is not None and refused_id is None else PromptForm(prefix="new")
    context = {
        "defaults": defaults or DefaultsForm(initial=initial),
        "new_prompt": new,
        "prompts": prompts,
        "saved": request.GET.get("saved", ""),
        "imported": _count(request.GET.get("imported", "")),
        "skipped": _count(request.GET.get("skipped", "")),
        "import_error": import_error,
        "import_max_mb": settings.IMPORT_MAX_MB,
    }
    return render(request, "account/settings.html", context, status=status)


def _count(value: str) -> int | None:
    """A number of conversations the import just made or skipped (in the address it sent
    us to)."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


@login_required
def page(request: HttpRequest) -> HttpResponse:
    """The person's defaults (GET shows them, POST saves them) and saved prompts."""
    if request.method != "POST":
        return _page(request)
    form = DefaultsForm(request.POST)
    if not form.is_valid():
        return _page(request, defaults=form, status=400)
    user = request.user
    for name, value in form.cleaned_data.items():
        setattr(user, name, value)
    user.save(update_fields=list(form.cleaned_data))
    request.chosen_language = user.language  # the language cookie follows the choice
    return redirect(f"{request.path}?saved=defaults")


@require_POST
@login_required
def save_prompt(request: HttpRequest, id: int | None = None) -> HttpResponse:
    """A new saved prompt (no id) or a change to one of the person's own."""
    user = request.user
    prompt = get_object_or_404(user.saved_prompts, pk=id) if id is not None else None
    prompt = prompt or SavedPrompt(owner=user)
    form = PromptForm(request.POST, instance=prompt, prefix=f"p{id}" if id else "new")
    if id is None and user.saved_prompts.count() >= MAX_PROMPTS:
        form.add_error(
            None, gettext("You can keep at most %(count)s prompts.") % {"count": MAX_PROMPTS}
        )
    if not form.is_valid():
        return _page(request, refused=form, status=400)
    form.save()
    return redirect(f"{reverse('settings')}?saved=prompt#prompts")


@require_POST
@login_required
def delete_prompt(request: HttpRequest, id: int) -> HttpResponse:
    get_object_or_404(request.user.saved_prompts, pk=id).delete()
    return redirect(f"{reverse('settings')}?saved=deleted#prompts")


@require_safe
@login_required
async def export_all(request: HttpRequest) -> StreamingHttpResponse:
    """Every conversation of the person (every branch), their settings and their files, as
    one ZIP streamed while it is made (conversations/archive.py)."""
    user = await request.auser()
    response = StreamingHttpResponse(archive.export(user), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{archive.archive_name(user)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@login_required
async def import_data(request: HttpRequest) -> HttpResponse:
    """`file`: a webchat archive, or a ChatGPT export (its ZIP or its conversations.json).
    All of it is imported, or nothing (the page says why)."""
    user = await request.auser()
    limit = settings.IMPORT_MAX_MB * MB
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 64 * 1024:
        error = gettext("That file is over the limit of %(mb)s MB.") % {
            "mb": number_format(settings.IMPORT_MAX_MB, force_grouping=True)
        }
        return await _refused(request, error, 413)
    try:
        # In the imports' own threads: an import can take a while, waiting for its turn.
        with archive.admitted():
            outcome = await sync_to_async(
                _import, thread_sensitive=False, executor=archive.imports
            )(request, user)
    except ChatError as error:
        return await _refused(request, error.message, getattr(error, "status", None) or 400)
    skipped = f"&skipped={outcome.skipped}" if outcome.skipped else ""
    return redirect(f"{reverse('settings')}?imported={outcome.imported}{skipped}#data")


def _import(request: HttpRequest, user: Any) -> archive.Outcome:
    close_old_connections()
    upload = request.FILES.get("file")
    if upload is None:
        raise archive.Refused(gettext("Choose a file to import."))
    return archive.import_file(user, upload)


async def _refused(request: HttpRequest, sentence: str, status: int) -> HttpResponse:
    return await sync_to_async(_page)(request, import_error=sentence, status=status)
