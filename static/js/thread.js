// The thread on screen: message elements (cloned from the server's <template>s, so the
// markup has one source, conversations/_message.html), their actions, and the replies
// streaming into them. Text is set with textContent; HTML only through render.js.

import { StreamedMessage } from "./render.js";

export class Thread {
  constructor(element) {
    this.element = element;
    this.streams = new Map(); // message id → StreamedMessage
    // Each role's actions, kept aside: a message gets them once it is stored.
    this.templates = {};
    this.actions = {};
    for (const role of ["user", "assistant"]) {
      const article = document.getElementById(`message-${role}`).content.querySelector("article");
      this.actions[role] = article.querySelector(".actions");
      this.actions[role].remove();
      this.templates[role] = article;
    }
    for (const id of this.streamingIds()) this.stream(id);
    this.decorateCode(element);
  }

  article(id) {
    return this.element.querySelector(`article[data-id="${CSS.escape(id)}"]`);
  }

  // A new message at the end of the thread (or of `parent`, a candidates group).
  add(message, parent = this.element) {
    const article = this.templates[message.role].cloneNode(true);
    article.dataset.id = message.id;
    article.dataset.status = message.status;
    article.dataset.seq = "0";
    article.dataset.parent = message.parent || "";
    if (message.role === "assistant") article.querySelector(".role").textContent = message.model || "Grok";
    article.querySelector(".content").textContent = message.content || "";
    document.getElementById("welcome")?.remove();
    parent.append(article);
    return article;
  }

  // Copy, edit or regenerate, as on the messages the server renders.
  addActions(article) {
    if (article.querySelector(".actions")) return;
    const role = article.classList.contains("user") ? "user" : "assistant";
    article.append(this.actions[role].cloneNode(true));
  }

  // A copy button on every code block of rendered replies.
  decorateCode(root) {
    for (const pre of root.querySelectorAll(".markdown pre")) {
      if (pre.querySelector("button.copy-code")) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "icon copy-code";
      button.setAttribute("aria-label", "Copy code");
      button.textContent = "Copy";
      pre.prepend(button);
    }
  }

  // Everything from `article` on leaves the screen: a new branch takes its place.
  cutFrom(article) {
    let node = article;
    while (node) {
      const next = node.nextElementSibling;
      if (node.matches("article.message, .candidates")) {
        this.streams.delete(node.dataset.id);
        node.remove();
      }
      node = next;
    }
  }

  stream(id) {
    let entry = this.streams.get(id);
    if (!entry) {
      const article = this.article(id);
      if (!article) return null;
      entry = new StreamedMessage(article);
      this.streams.set(id, entry);
    }
    return entry;
  }

  streamingIds() {
    return [...this.element.querySelectorAll('article[data-status="streaming"]')].map((a) => a.dataset.id);
  }

  isEmpty() {
    return this.element.querySelector("article.message") === null;
  }

  // --- Frames --------------------------------------------------------------------------
  start(frame) {
    let group = this.element;
    if (frame.messages.length > 1) {
      // Candidates side by side; the person picks the one the conversation goes on from.
      group = document.createElement("section");
      group.className = "candidates";
      group.setAttribute("aria-label", `${frame.messages.length} candidate replies`);
      this.element.append(group);
    }
    frame.messages.forEach((id, index) => {
      if (this.article(id)) return;
      const article = this.add({ id, role: "assistant", status: "streaming", model: frame.model }, group);
      if (frame.messages.length > 1) {
        article.querySelector(".role").textContent = `${frame.model} · candidate ${index + 1}`;
        const pick = document.createElement("button");
        pick.type = "button";
        pick.className = "secondary pick";
        pick.textContent = "Continue from this one";
        article.append(pick);
      }
    });
  }

  // False when a frame is missing and the whole text must be asked for again.
  delta(frame) {
    const entry = this.stream(frame.message);
    return !entry || entry.delta(frame);
  }

  snapshot(frame) {
    this.stream(frame.message)?.snapshot(frame);
  }

  done(frame) {
    const entry = this.stream(frame.message);
    if (!entry) return;
    entry.done(frame);
    this.streams.delete(frame.message);
    const article = this.article(frame.message);
    if (frame.usage) {
      const { prompt_tokens: prompt, completion_tokens: completion } = frame.usage;
      article.title = `${prompt.toLocaleString("en")} prompt + ${completion.toLocaleString("en")} completion tokens`;
    }
    if (!article.closest(".candidates")) this.addActions(article);
    this.decorateCode(article);
  }
}
