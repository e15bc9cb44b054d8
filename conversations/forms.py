"""The client frames `send` (maybe with attachments), `regenerate`, `continue` and `resume`,
validated before anything is touched.

A frame is JSON, so the fields here take values as JSON gives them and never coerce: a
temperature of "0.5" or a max_tokens of `true` is refused, not read as a number. A refused
frame raises InvalidRequest with the first problem, in words for a person.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy

from conversations.turns import AFTER_LEAF, TurnRequest
from webchat import text as stored_text
from webchat.errors import InvalidRequest

# The values a frame may hold, lists and objects counted: a send's are a few dozen (its
# text, its settings, up to ATTACHMENTS_PER_MESSAGE files). Each is checked below, in
# Python, on the event loop: 150,000 empty lists in one frame took 0.3 s to check.
FRAME_VALUES_MAX = 1_000


def parse_frame(text: str | None) -> dict[str, Any]:
    """The frame as a dict, or InvalidRequest saying what is wrong with it. Its values are
    checked apart (check_frame), once its client_id is known."""
    if text is None:
        raise InvalidRequest(gettext("Frames must be JSON text, not binary."))
    # The longest message with each character written as two (a new line is "\\n" in
    # JSON), and room for the rest of a send: parsing is the event loop's.
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS * 2 + 4096:
        raise InvalidRequest(gettext("This frame is too large."))
    try:
        frame = json.loads(text)
    except ValueError:
        raise InvalidRequest(gettext("This frame is not valid JSON.")) from None
    except RecursionError:
        raise InvalidRequest(stored_text.too_deep()) from None
    if not isinstance(frame, dict):
        raise InvalidRequest(gettext("A frame must be a JSON object."))
    return frame


def check_frame(frame: dict[str, Any]) -> None:
    """InvalidRequest if the frame holds too many values, or one that cannot be stored."""
    if _holds_more_than(frame, FRAME_VALUES_MAX):
        raise InvalidRequest(gettext("This frame is too large."))
    # Every string of the frame, keys too: "\u0000" and "\ud800" escapes are JSON, but
    # neither can be stored or sent upstream.
    found = stored_text.problem(frame)
    if found:
        raise InvalidRequest(found)


def _holds_more_than(frame: dict[str, Any], limit: int) -> bool:
    """Whether `frame` holds more than `limit` values, found without looking at more."""
    stack: list[Any] = [frame]
    seen = 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def client_id_of(frame: dict[str, Any]) -> str | None:
    """The client's name for its frame, echoed back: a short string, or nothing."""
    value = frame.get("client_id")
    return value if isinstance(value, str) and len(value) <= 100 else None


class JSONField(forms.Field):
    """One JSON value of the given types, as it came: absent and null are both None."""

    def __init__(self, *types: type, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.types = types
        self.message = message

    def to_python(self, value: Any) -> Any:
        if value is None:
            return None
        # bool is an int in Python, never in a frame.
        is_bool = isinstance(value, bool)
        if (is_bool and bool not in self.types) or not isinstance(value, self.types):
            raise ValidationError(self.message)
        return value

    def validate(self, value: Any) -> None:
        if value is None and self.required:
            raise ValidationError(self.message)


class IdField(JSONField):
    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(str, message=message, **kwargs)

    def to_python(self, value: Any) -> uuid.UUID | None:
        text = super().to_python(value)
        if text is None:
            return None
        try:
            return uuid.UUID(text)
        except ValueError:
            raise ValidationError(self.message) from None


class RangeField(JSONField):
    """A number (or, `whole`, an integer) from `low` to `high`."""

    def __init__(self, low: float, high: float | None, *, whole: bool, message: str) -> None:
        super().__init__(*((int,) if whole else (int, float)), message=message)
        self.low, self.high = low, high

    def to_python(self, value: Any) -> Any:
        number = super().to_python(value)
        if number is not None and not (
            self.low <= number and (self.high is None or number <= self.high)
        ):
            raise ValidationError(self.message)
        return number


def _text(value: str, what: str) -> str:
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(value) > limit:
        raise ValidationError(
            gettext("%(what)s is too long (%(length)s characters; the limit is %(limit)s).")
            % {
                "what": what,
                "length": number_format(len(value), force_grouping=True),
                "limit": number_format(limit, force_grouping=True),
            }
        )
    return value


class ParamsForm(forms.Form):
    """A message's settings: `params` of a send or regenerate frame."""

    system = JSONField(str, message=gettext_lazy("The system prompt must be text."))
    temperature = RangeField(
        0, 2, whole=False, message=gettext_lazy("Temperature must be a number from 0 to 2.")
    )
    max_tokens = RangeField(
        1, None, whole=True, message=gettext_lazy("max_tokens must be a positive whole number.")
    )

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        limit = settings.CHAT_MAX_CANDIDATES
        self.fields["n"] = RangeField(
            1,
            limit,
            whole=True,
            message=gettext("n must be a whole number from 1 to %(limit)s.") % {"limit": limit},
        )

    def clean_system(self) -> str | None:
        system = self.cleaned_data["system"]
        return None if system is None else _text(system, gettext("The system prompt"))


def first_error(form: forms.Form) -> str:
    return next(str(errors[0]) for errors in form.errors.values())


class FrameForm(forms.Form):
    field_order = ["content", "parent", "message", "model", "params"]

    def valid(self) -> dict[str, Any]:
        """The cleaned frame, or InvalidRequest with its first problem."""
        if not self.is_valid():
            raise InvalidRequest(first_error(self))
        return self.cleaned_data


class TurnForm(FrameForm):
    """What `send` and `regenerate` share: a model and its settings."""

    model = JSONField(str, message=gettext_lazy("`model` must be a model name."))
    params = JSONField(dict, message=gettext_lazy("`params` must be an object."))

    def clean_model(self) -> str | None:
        model = self.cleaned_data["model"]
        if model is not None and not 0 < len(model) <= 64:
            raise ValidationError(self.fields["model"].message)
        return model

    def clean_params(self) -> dict[str, Any] | None:
        if self.cleaned_data["params"] is None:
            return None
        params = ParamsForm(self.cleaned_data["params"])
        if not params.is_valid():
            raise ValidationError(first_error(params))
        return {k: v for k, v in params.cleaned_data.items() if v is not None}

    def request(self, **fields: Any) -> TurnRequest:
        data = self.valid()
        params = None if data["params"] is None else dict(data["params"])
        n = None if params is None else params.pop("n", None)
        return TurnRequest(model=data["model"], params=params, n=n, **fields)


class SendForm(TurnForm):
    content = JSONField(str, required=True, message=gettext_lazy("Write a message first."))
    parent = IdField("`parent` must be a message id or null.")
    attachments = JSONField(list, message=gettext_lazy("`attachments` must be a list of file ids."))

    def clean_attachments(self) -> tuple[uuid.UUID, ...]:
        ids = self.cleaned_data["attachments"] or []
        most = settings.ATTACHMENTS_PER_MESSAGE
        if len(ids) > most:
            raise ValidationError(
                gettext("A message can carry at most %(most)s files.") % {"most": most}
            )
        try:
            if not all(isinstance(i, str) for i in ids):
                raise ValueError
            return tuple(uuid.UUID(i) for i in ids)
        except ValueError:
            raise ValidationError(self.fields["attachments"].message) from None

    def clean_content(self) -> str:
        content = self.cleaned_data["content"]
        # A message may be files alone; without files it needs words.
        if not content.strip() and not self.data.get("attachments"):
            raise ValidationError(gettext("Write a message first."))
        return _text(content, gettext("This message"))

    def turn(self) -> TurnRequest:
        data = self.valid()
        # No `parent` at all: after the message on screen; null: a new first message.
        parent = data["parent"] if "parent" in self.data else AFTER_LEAF
        return self.request(
            content=data["content"],
            parent=parent,
            attachments=data["attachments"],
            client_id=client_id_of(self.data),
        )


class RegenerateForm(TurnForm):
    message = IdField("`message` must be a message id.", required=True)

    def turn(self) -> TurnRequest:
        return self.request(regenerate=self.valid()["message"])


class ContinueForm(FrameForm):
    message = IdField("`message` must be a message id.", required=True)

    def turn(self) -> TurnRequest:
        return TurnRequest(continue_from=self.valid()["message"])


class ResumeForm(FrameForm):
    message = IdField("`message` must be a message id.", required=True)

    def message_id(self) -> str:
        return str(self.valid()["message"])


class SummarizeForm(forms.Form):
    """`POST /c/<id>/summarize/`: the message on screen and the composer's settings."""

    leaf = forms.UUIDField(
        error_messages={"required": gettext_lazy("Which messages? `leaf` is missing.")}
    )
    model = forms.CharField(max_length=64, required=False)
    system = forms.CharField(required=False, strip=False)
    max_tokens = forms.IntegerField(min_value=1, required=False)
    retry = forms.BooleanField(required=False)

    def valid(self) -> dict[str, Any]:
        if not self.is_valid():
            raise InvalidRequest(first_error(self))
        data = dict(self.cleaned_data)
        data["system"] = _text(data["system"] or "", gettext("The system prompt"))
        data["model"] = data["model"] or None
        return data
