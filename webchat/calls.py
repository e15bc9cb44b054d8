"""One upstream call under a reservation in the ledger: its events, timed and counted as
they pass, then settled with what it used.

A reply in a conversation (conversations.generation), a summary (conversations.summaries)
and a call of the API (api.views) are each one Call: reserved by the ledger's one rule
(`UsageRecord.objects.reserve`), streamed by the one client (webchat.grok), settled here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from webchat import grok, sse
from webchat.errors import ChatError, UpstreamError
from webchat.models import ChatModel, UsageRecord

log = logging.getLogger(__name__)


@dataclass
class Call:
    model: ChatModel
    payload: dict[str, Any]
    # The UsageRecord reserved for it.
    record: int
    # The prompt's estimated tokens (reserved), to learn from what the upstream counts;
    # learned from text alone: an image's fixed estimate says nothing of the text's.
    estimate: int = 0
    learn: bool = True
    started: float = field(default_factory=time.monotonic)
    first: float | None = None
    upstream_id: str = ""
    # The last usage the upstream sent: the total (never add them up).
    usage: sse.Usage | None = None

    async def events(self) -> AsyncIterator[sse.Event]:
        """The upstream's events, noting on the way the first word's time, the stream's id
        and the usage. (The caller bounds the time: a timeout around a generator that
        yields would fire in the caller's code.)"""
        async with aclosing(grok.stream_chat(self.payload)) as events:
            async for event in events:
                kind = type(event)
                if kind is sse.ContentDelta or kind is sse.ReasoningDelta:
                    if self.first is None:
                        self.first = time.monotonic()
                elif kind is sse.Meta:
                    self.upstream_id = self.upstream_id or event.id
                elif kind is sse.Usage:
                    event = self.usage = self._within_window(event)
                yield event

    def _within_window(self, usage: sse.Usage) -> sse.Usage:
        """No model reads or writes past its window, per candidate: counts beyond it are
        the upstream's mistake, and would spend a plan in one call."""
        most = self.model.context_window * int(self.payload.get("n") or 1)
        if usage.prompt_tokens <= most and usage.completion_tokens <= most:
            return usage
        log.warning("the upstream counted past the model's window: %s", usage)
        prompt, completion = min(usage.prompt_tokens, most), min(usage.completion_tokens, most)
        return replace(usage, prompt_tokens=prompt, completion_tokens=completion)

    def elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)

    def settle(
        self, status: str, error: ChatError | None = None, written: int = 0, was: str = "running"
    ) -> bool:
        """Record what the call used (blocking: the database's thread). Without the
        upstream's usage (stopped or failed before it said), the completion counts at
        `written`, the estimate of the text that arrived. `was`: the row's status now."""
        usage = self.usage
        prompt = usage.prompt_tokens if usage is not None else None
        first = self.first
        settled = UsageRecord.objects.settle(
            self.record,
            status=status,
            prompt_tokens=prompt,
            completion_tokens=usage.completion_tokens if usage is not None else written,
            upstream_id=self.upstream_id,
            error_code=error.code if error else "",
            ttft_ms=round((first - self.started) * 1000) if first else None,
            duration_ms=self.elapsed_ms(),
            was=was,
        )
        # What the upstream counted corrects the model's estimate (conversations.context),
        # once: a second settling (a retried end whose first commit went through) is none.
        counted = prompt
        if counted is None and isinstance(error, UpstreamError):
            counted = error.prompt_tokens  # the length error says how many
        if settled and counted and self.estimate and self.learn:
            ChatModel.objects.observe_prompt(self.model, self.estimate, counted)
        return settled
