// The thread on screen: message elements (cloned from the server's <template>s, so the
// markup has one source, conversations/_message.html), their actions, and the replies
// streaming into them. Text is set with textContent; HTML only through render.js, or the
// server's own rendering of the thread (conversations/_thread.html) when a branch changes.

import { fileIcon, formatSize } from "./attachments.js";
import { estimateTokens } from "./context.js";
import { decorateCode, showHtml, StreamedMessage } from "./render.js";

// Times and dates in the page's language (the interface's, <html lang>).
const locale = document.documentElement.lang || undefined;
const timeFormat = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric" });
const yearFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });

export class Thread {
  constructor(element, modelNames) {
    this.element = element;
    this.modelNames = modelNames; // slug → display name
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
    this.adopt();
  }

  // The messages now in the element (the page's, or a branch just swapped in).
  adopt() {
    this.streams.clear();
    for (const id of this.streamingIds()) this.stream(id);
    decorateCode(this.element);
    for (const time of this.element.querySelectorAll("time.time")) showTime(time, new Date(time.dateTime));
  }

  // Another branch, rendered by the server, takes the thread's place. What a person or a
  // model wrote goes through the page's own filter as well, as every other HTML does.
  replace(html) {
    this.replaced = (this.replaced || 0) + 1; // a read of the thread from before is out of date
    this.element.innerHTML = html;
    for (const content of this.element.querySelectorAll(".content.markdown")) {
      showHtml(content, content.innerHTML);
    }
    this.adopt();
  }

  article(id) {
    return this.element.querySelector(`article[data-id="${CSS.escape(id)}"]`);
  }

  modelName(slug) {
    return this.modelNames[slug] || slug || "Grok";
  }

  // A new message at the end of the thread (or of `parent`, a candidates group).
  add(message, parent = this.element) {
    const article = this.templates[message.role].cloneNode(true);
    article.dataset.id = message.id;
    article.dataset.status = message.status;
    article.dataset.seq = "0";
    article.dataset.parent = message.parent || "";
    article.dataset.created = new Date().toISOString();
    if (message.role === "assistant") {
      article.dataset.model = message.model || "";
      article.querySelector(".role").textContent = this.modelName(message.model);
    }
    article.querySelector(".content").textContent = message.content || "";
    if (message.attachments?.length) article.querySelector(".content").before(fileLinks(message.attachments));
    document.getElementById("welcome")?.remove();
    parent.append(article);
    return article;
  }

  // The files a message was sent with, as the server listed them.
  filesOf(article) {
    return [...article.querySelectorAll(".attachments a[data-id]")].map((link) => JSON.parse(link.dataset.file));
  }

  // Copy, edit or regenerate, as on the messages the server renders.
  addActions(article) {
    const present = article.querySelector(".actions");
    if (present?.querySelector(".copy")) return;
    const role = article.classList.contains("user") ? "user" : "assistant";
    const actions = this.actions[role].cloneNode(true);
    const time = document.createElement("time");
    time.className = "time";
    showTime(time, new Date(article.dataset.created || Date.now()));
    actions.append(time);
    if (present) present.append(...actions.childNodes);
    else article.append(actions);
  }

  // The ‹ 2/3 › arrows of a message, made here for a version just written.
  setSiblings(article, ids) {
    let actions = article.querySelector(".actions");
    if (!actions) {
      actions = document.createElement("div");
      actions.className = "actions";
      article.append(actions);
    }
    actions.querySelector(".siblings")?.remove();
    if (ids.length < 2) return;
    const at = ids.indexOf(article.dataset.id);
    const span = document.createElement("span");
    span.className = "siblings";
    span.dir = "ltr"; // ‹ 1/2 › reads the same way in every language
    span.dataset.siblings = ids.join(",");
    const arrow = (name, label, text, disabled) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `icon ${name}`;
      button.setAttribute("aria-label", label);
      button.textContent = text;
      button.disabled = disabled;
      return button;
    };
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = `${at + 1}/${ids.length}`;
    span.append(arrow("prev", gettext("Previous version"), "‹", at <= 0), count, arrow("next", gettext("Next version"), "›", at === ids.length - 1));
    actions.prepend(span);
  }

  // The versions at `article`'s place: its arrows' list, or itself alone.
  siblingsOf(article) {
    return article.querySelector(".siblings")?.dataset.siblings.split(",") || [article.dataset.id];
  }

  // Everything from `article` on leaves the screen: a new branch takes its place. The
  // nodes taken off are returned, to be put back if the server refuses the new branch.
  cutFrom(article) {
    const removed = [];
    let node = article;
    while (node) {
      const next = node.nextElementSibling;
      if (node.matches("article.message, .candidates, aside.summary, .context-marker")) {
        this.streams.delete(node.dataset.id);
        node.remove();
        removed.push(node);
      }
      node = next;
    }
    return removed;
  }

  putBack(nodes) {
    this.element.append(...nodes);
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
  // The new replies' articles.
  start(frame) {
    let group = this.element;
    if (frame.messages.length > 1) {
      // Candidates side by side; the person picks the one the conversation goes on from.
      group = document.createElement("section");
      group.className = "candidates";
      group.setAttribute("aria-label", interpolate(gettext("%(count)s candidate replies"), { count: frame.messages.length }, true));
      this.element.append(group);
    }
    const articles = [];
    frame.messages.forEach((id, index) => {
      if (this.article(id)) return;
      const article = this.add({ id, role: "assistant", status: "streaming", model: frame.model }, group);
      articles.push(article);
      if (frame.messages.length > 1) {
        article.querySelector(".role").textContent = interpolate(gettext("%(model)s · candidate %(number)s"), { model: this.modelName(frame.model), number: index + 1 }, true);
        const pick = document.createElement("button");
        pick.type = "button";
        pick.className = "secondary pick";
        pick.textContent = gettext("Continue from this one");
        article.append(pick);
      }
    });
    return articles;
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
    article.dataset.tokens = String(estimateTokens(entry.text)); // as the server counts it
    const { prompt_tokens: prompt, completion_tokens: completion } = frame.usage || {};
    const usage = frame.usage
      ? interpolate(
          gettext("%(prompt)s prompt + %(completion)s completion tokens"),
          { prompt: prompt.toLocaleString(locale), completion: completion.toLocaleString(locale) },
          true,
        )
      : "";
    if (usage) article.title = usage;
    if (article.closest(".candidates")) {
      // A candidate can be copied before one is picked.
      const copy = this.actions.assistant.querySelector(".copy").cloneNode(true);
      const actions = document.createElement("div");
      actions.className = "actions";
      actions.append(copy);
      article.querySelector(".pick")?.before(actions);
      return;
    }
    this.addActions(article);
    if (usage) {
      // Where a touch screen, which has no hover to show the title, shows it: under the
      // actions of a message tapped.
      const shown = document.createElement("span");
      shown.className = "usage";
      shown.textContent = usage;
      article.querySelector(".actions").append(shown);
    }
    // A reply cut short (by its length limit, Stop, a restart or the model service failing
    // partway) can go on from its words; not one the person's allowance cut: it has no more.
    const cut = (frame.finish_reason === "length" && !frame.limited_by) || ["stopped", "interrupted", "error"].includes(frame.status);
    if (cut && entry.text) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link continue";
      button.textContent = gettext("Continue generating");
      article.querySelector(".note")?.append(" ", button);
    }
  }
}

function showTime(time, when) {
  if (Number.isNaN(when.getTime())) return;
  time.dateTime = when.toISOString();
  // Today's messages by their time; older ones by their day (the year if not this one).
  const now = new Date();
  const today = when.toDateString() === now.toDateString();
  const format = today ? timeFormat : when.getFullYear() === now.getFullYear() ? dayFormat : yearFormat;
  time.textContent = format.format(when);
  time.title = dateFormat.format(when);
}

// A message's files, as conversations/_message.html shows them: images (a click shows
// them whole) and file chips (a click downloads them).
function fileLinks(files) {
  const box = document.createElement("div");
  box.className = "attachments";
  for (const file of files) {
    const link = document.createElement("a");
    link.href = file.url;
    link.title = file.name;
    link.dataset.id = file.id;
    link.dataset.file = JSON.stringify(file);
    if (file.kind === "image") {
      link.className = "attachment image";
      link.target = "_blank";
      link.rel = "noopener";
      const image = document.createElement("img");
      // Lazy, as the server's page has them (set before the address, which starts a load).
      image.loading = "lazy";
      image.src = file.preview_url || file.url; // the whole image is the link's
      image.alt = file.name;
      if (file.width) image.width = file.width;
      if (file.height) image.height = file.height;
      link.append(image);
    } else {
      link.className = "attachment file";
      link.download = file.download_name || file.name;
      const name = document.createElement("span");
      name.className = "file-name";
      name.textContent = file.name;
      const size = document.createElement("span");
      size.className = "file-size";
      size.textContent = formatSize(file.size);
      name.dir = size.dir = "auto"; // as conversations/_message.html draws them
      link.append(fileIcon(), name, size);
    }
    box.append(link);
  }
  return box;
}
