// The browser's half of the one rendering policy (conversations/render.py is the other):
// markdown-it with raw HTML escaped, then DOMPurify keeping the same tags and attributes.
// Images become links and are never loaded; links get rel="noopener noreferrer nofollow".

const TAGS = [
  "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "span",
];
const ATTRIBUTES = ["href", "title", "class", "start"];
const SAFE_URL = /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i;

let markdown = null;

function parser() {
  if (markdown === null) {
    markdown = window.markdownit({ html: false, linkify: false, typographer: false });
    const escape = markdown.utils.escapeHtml;
    markdown.renderer.rules.image = (tokens, index) => {
      const token = tokens[index];
      return `<a href="${escape(token.attrGet("src") || "")}">${escape(token.content || "image")}</a>`;
    };
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") node.setAttribute("rel", "noopener noreferrer nofollow");
    });
  }
  return markdown;
}

// HTML from anywhere (ours or the server's) goes through the same filter before the DOM.
export function sanitize(html) {
  parser(); // installs the link hook
  return window.DOMPurify.sanitize(html, {
    ALLOWED_TAGS: TAGS,
    ALLOWED_ATTR: ATTRIBUTES,
    ALLOWED_URI_REGEXP: SAFE_URL,
  });
}

export function renderMarkdown(text) {
  return sanitize(parser().render(text));
}

// One message being streamed: its text grows by deltas, a snapshot replaces it, and the
// element is re-rendered at most once per animation frame (not the thread, not per frame).
export class StreamedMessage {
  constructor(article) {
    this.article = article;
    this.content = article.querySelector(".content");
    this.seq = Number(article.dataset.seq || 0);
    this.text = this.content.textContent;
    this.reasoning = article.querySelector(".reasoning-text")?.textContent || "";
    this.pending = false;
    this.content.className = "content markdown";
    this.paint();
  }

  // Returns false when a frame is missing and the whole text must be asked for again.
  delta(frame) {
    if (frame.seq <= this.seq) return true; // already shown (a snapshot covered it)
    if (frame.seq > this.seq + 1) return false;
    this.seq = frame.seq;
    this.text += frame.content || "";
    this.reasoning += frame.reasoning || "";
    this.schedule();
    return true;
  }

  snapshot(frame) {
    this.seq = frame.seq;
    this.text = frame.content;
    this.reasoning = frame.reasoning || "";
    this.article.dataset.status = frame.status;
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.paint();
    });
  }

  paint() {
    this.content.innerHTML = renderMarkdown(this.text);
    if (this.reasoning) this.reasoningElement().textContent = this.reasoning;
  }

  reasoningElement() {
    let body = this.article.querySelector(".reasoning-text");
    if (!body) {
      const details = document.createElement("details");
      details.className = "reasoning";
      const summary = document.createElement("summary");
      summary.textContent = "Thinking";
      body = document.createElement("div");
      body.className = "reasoning-text";
      details.append(summary, body);
      this.article.querySelector(".role").after(details);
    }
    return body;
  }

  // The reply ended: the server's rendering (same policy, plus code highlighting) replaces ours.
  done(frame) {
    this.article.dataset.status = frame.status;
    if (typeof frame.html === "string") this.content.innerHTML = sanitize(frame.html);
    const notes = {
      stopped: "Stopped.",
      interrupted: "Interrupted: the server stopped while writing this reply.",
    };
    if (frame.status === "error") this.note(frame.error?.message || "This reply failed.", true);
    else if (frame.finish_reason === "length") this.note("Cut short: the reply reached its length limit.");
    else this.note(notes[frame.status] || "");
  }

  note(text, isError = false) {
    this.article.querySelector(".note")?.remove();
    if (!text) return;
    const note = document.createElement("div");
    note.className = isError ? "note error" : "note";
    if (isError) note.setAttribute("role", "alert");
    note.textContent = text;
    this.article.append(note);
  }
}
