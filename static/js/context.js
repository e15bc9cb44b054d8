// How much of the thread the model reads, by conversations/context.py's rule and units:
// the message being written (with its images) and the system prompt always; then the
// summary, if there is one; then earlier turns, newest first, while they fit the model's
// context window beside the reply. The thread shows where the model's view begins, with
// "Summarize earlier messages"; the composer shows how full the window is.

// webchat.quotas.estimate_tokens for one text.
export function estimateTokens(text) {
  return Math.ceil((text || "").length / 3) + 8;
}

export class ContextGauge {
  // `composer` gives the model, the settings, the draft and its files; `summarize()` is
  // called by the marker's button.
  constructor(thread, composer, config, { summarize }) {
    this.thread = thread;
    this.composer = composer;
    this.imageTokens = config.image_tokens;
    this.gauge = document.getElementById("context-gauge");
    this.meter = this.gauge.querySelector("meter");
    this.label = this.gauge.querySelector(".context-text");
    // What the gauge counts, in words: its tooltip on hover, a note below on a tap or a key
    // (a phone has no hover).
    this.note = document.getElementById("context-note");
    this.gauge.addEventListener("click", () => this.explain(this.gauge.getAttribute("aria-expanded") !== "true"));
    this.summarize = summarize;
    this.marker = document.createElement("div");
    this.marker.className = "context-marker";
    this.marker.setAttribute("role", "note");
    const words = document.createElement("span");
    words.textContent = gettext("Earlier messages are not sent to the model.");
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.className = "link summarize";
    this.button.textContent = gettext("Summarize earlier messages");
    this.button.addEventListener("click", () => this.summarize(this.button));
    this.marker.append(words, " ", this.button);
    this.pending = false;
  }

  // Measured again at the next frame (typing calls this on every key).
  update() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.measure();
    });
  }

  // The thread as turns: [{ nodes, tokens, summary }], oldest first, from the latest
  // summary on (what it stands for is never sent).
  turns() {
    const turns = [];
    const items = this.thread.element.querySelectorAll(":scope > article.message, :scope > .candidates, :scope > aside.summary");
    for (const node of items) {
      if (node.matches("article.message[data-status=sending]")) continue;
      if (node.matches("aside.summary")) {
        turns.length = 0;
        turns.push({ nodes: [node], tokens: Number(node.dataset.tokens), summary: true });
        continue;
      }
      const articles = node.matches(".candidates") ? [...node.querySelectorAll("article.message")] : [node];
      const tokens = Math.max(...articles.map((a) => Number(a.dataset.tokens) || estimateTokens(a.querySelector(".content")?.textContent)));
      const role = articles[0]?.classList.contains("user") ? "user" : "assistant";
      const last = turns[turns.length - 1];
      if (role === "user" || !last || last.summary) turns.push({ nodes: [node], tokens, summary: false });
      else {
        last.nodes.push(node);
        last.tokens += tokens;
      }
    }
    return turns;
  }

  measure() {
    const option = this.composer.model.selectedOptions[0];
    if (!option) return;
    const ratio = Number(option.dataset.ratio) || 1;
    const maxOutput = Number(option.dataset.maxOutput);
    const asked = Number(this.composer.form.querySelector("#max-tokens").value) || maxOutput;
    const room = Number(option.dataset.context) - Math.min(asked, maxOutput);
    const defaults = JSON.parse(option.dataset.defaults || "{}");
    const system = this.composer.form.querySelector("#system").value || defaults.system || "";
    const cost = (tokens) => Math.ceil(tokens * ratio);
    const images = option.dataset.vision === "true" ? this.composer.files.imageCount() : 0;
    const draft = estimateTokens(this.composer.prompt.value) + this.composer.files.textTokens();
    let used = cost(draft) + images * this.imageTokens;
    if (system) used += cost(estimateTokens(system));
    const turns = this.turns();
    const summary = turns[0]?.summary ? turns.shift() : null;
    if (summary && used + cost(summary.tokens) <= room) used += cost(summary.tokens);
    let first = turns.length;
    while (first > 0 && used + cost(turns[first - 1].tokens) <= room) {
      first -= 1;
      used += cost(turns[first].tokens);
    }
    this.marker.remove();
    if (first > 0 && turns[first]) turns[first].nodes[0].before(this.marker);
    else if (first > 0) this.thread.element.append(this.marker);
    const share = Math.max(0, Math.min(used / room, 1));
    this.meter.value = share;
    if (used > room) this.label.textContent = gettext("Too long for this model");
    else {
      // "Context" goes on a phone, where the model's name needs the room.
      const word = document.createElement("span");
      word.className = "context-word";
      word.textContent = `${gettext("Context")} `;
      // Some use, too little to round to 1%, is not shown as none. Isolated: on a
      // right-to-left page "<1%" would read "1%>".
      const figure = document.createElement("bdi");
      figure.textContent = used > 0 && share < 0.005 ? "<1%" : `${Math.round(share * 100)}%`;
      this.label.replaceChildren(word, figure);
    }
    const lang = document.documentElement.lang;
    const values = { used: used.toLocaleString(lang), room: room.toLocaleString(lang), model: option.textContent };
    this.gauge.title = interpolate(
      first > 0
        ? gettext("About %(used)s of the %(room)s tokens %(model)s reads beside its reply; earlier messages are left out.")
        : gettext("About %(used)s of the %(room)s tokens %(model)s reads beside its reply."),
      values,
      true,
    );
    this.note.textContent = this.gauge.title;
    this.gauge.classList.toggle("full", first > 0);
    this.gauge.hidden = this.thread.isEmpty() && !this.composer.prompt.value;
    if (this.gauge.hidden) this.explain(false);
  }

  explain(open) {
    this.gauge.setAttribute("aria-expanded", String(open));
    this.note.hidden = !open;
  }
}
