// The browser's half of the one rendering policy (conversations/render.py is the other):
// markdown-it with raw HTML escaped, then DOMPurify keeping the same tags and attributes.
// Images become links and are never loaded; links get rel="noopener noreferrer nofollow".
// Table alignment becomes a class (the Content-Security-Policy refuses style attributes)
// and every block reads in its own direction (dir="auto").

const TAGS = [
  "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "span",
];
const ATTRIBUTES = ["href", "title", "class", "start", "dir"];
const SAFE_URL = /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i;
const DIRECTED = new Set(["paragraph_open", "heading_open", "list_item_open", "blockquote_open", "th_open", "td_open"]);
const ALIGNED = new Set(["th_open", "td_open"]);
const ALIGN = /^text-align:(left|center|right)$/;

let markdown = null;

// The same token rule as render.py's `_blocks`.
function blocks(state) {
  const walk = (tokens) => {
    for (const token of tokens) {
      if (DIRECTED.has(token.type)) token.attrSet("dir", "auto");
      if (ALIGNED.has(token.type)) {
        const align = ALIGN.exec(token.attrGet("style") || "");
        if (token.attrs) token.attrs = token.attrs.filter(([name]) => name !== "style");
        if (align) token.attrSet("class", `align-${align[1]}`);
      }
    }
  };
  walk(state.tokens);
}

function parser() {
  if (markdown === null) {
    markdown = window.markdownit({ html: false, linkify: false, typographer: false });
    const escape = markdown.utils.escapeHtml;
    markdown.renderer.rules.image = (tokens, index) => {
      const token = tokens[index];
      return `<a href="${escape(token.attrGet("src") || "")}">${escape(token.content || "image")}</a>`;
    };
    markdown.core.ruler.push("blocks", blocks);
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

const EXTENSIONS = {
  python: "py", py: "py", javascript: "js", js: "js", typescript: "ts", ts: "ts", bash: "sh",
  sh: "sh", shell: "sh", zsh: "sh", json: "json", html: "html", css: "css", markdown: "md",
  md: "md", sql: "sql", rust: "rs", go: "go", java: "java", c: "c", cpp: "cpp", "c++": "cpp",
  ruby: "rb", php: "php", yaml: "yaml", yml: "yaml", toml: "toml", xml: "xml", csv: "csv",
  kotlin: "kt", swift: "swift", csharp: "cs", diff: "diff",
};

// The bar over each code block: its language, Copy and Download (added after sanitizing,
// by this page, never taken from the reply's HTML).
export function decorateCode(root) {
  for (const pre of root.querySelectorAll(".markdown pre")) {
    if (pre.previousElementSibling?.classList.contains("code-bar")) continue;
    const code = pre.querySelector("code");
    const language = /(?:^|\s)language-([\w+#.-]+)/.exec(code?.className || "")?.[1] || "";
    const bar = document.createElement("div");
    bar.className = "code-bar";
    const label = document.createElement("span");
    label.className = "code-lang";
    label.textContent = language || "text";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "icon copy-code";
    copy.setAttribute("aria-label", `Copy ${language || "code"}`);
    copy.textContent = "Copy";
    const save = document.createElement("button");
    save.type = "button";
    save.className = "icon download-code";
    save.setAttribute("aria-label", `Download ${language || "code"}`);
    const key = language.toLowerCase();
    save.dataset.extension = Object.hasOwn(EXTENSIONS, key) ? EXTENSIONS[key] : "txt";
    save.textContent = "Download";
    bar.append(label, copy, save);
    pre.before(bar);
  }
}

export function downloadCode(button) {
  const pre = button.closest(".code-bar").nextElementSibling;
  const blob = new Blob([pre.querySelector("code")?.textContent ?? pre.textContent], { type: "text/plain" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `snippet.${button.dataset.extension}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// "Thought for 4 s": how long a reply reasoned before its first word.
export function thoughtFor(ms) {
  return `Thought for ${Math.max(1, Math.round(ms / 1000))} s`;
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
    // Thinking is timed from when the reply began (its message's creation, after a reload).
    this.began = Date.parse(article.dataset.created || "") || Date.now();
    this.thought = null; // ms, once the first word came after thinking
    this.timer = null;
    this.content.className = "content markdown";
    this.content.removeAttribute("dir");
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
    decorateCode(this.article);
    if (this.reasoning) {
      this.reasoningElement().textContent = this.reasoning;
      if (this.text && this.thought === null) this.thinkingEnded();
      else if (!this.text) this.thinking();
    }
  }

  // A live "Thinking… 3 s" while the model reasons and nothing of the reply has come.
  thinking() {
    if (this.timer !== null) return;
    const tick = () => {
      const seconds = Math.floor((Date.now() - this.began) / 1000);
      this.summary().textContent = seconds ? `Thinking… ${seconds} s` : "Thinking…";
    };
    tick();
    this.timer = setInterval(tick, 1000);
  }

  thinkingEnded() {
    clearInterval(this.timer);
    this.timer = null;
    this.thought = Date.now() - this.began;
    this.summary().textContent = thoughtFor(this.thought);
  }

  summary() {
    return this.article.querySelector(".reasoning summary");
  }

  reasoningElement() {
    let body = this.article.querySelector(".reasoning-text");
    if (!body) {
      const details = document.createElement("details");
      details.className = "reasoning";
      const summary = document.createElement("summary");
      summary.textContent = "Thinking…";
      body = document.createElement("div");
      body.className = "reasoning-text";
      body.dir = "auto";
      details.append(summary, body);
      this.article.querySelector(".role").after(details);
    }
    return body;
  }

  // The reply ended: the server's rendering (same policy, plus code highlighting) replaces ours.
  done(frame) {
    this.article.dataset.status = frame.status;
    this.article.dataset.finish = frame.finish_reason || "";
    if (typeof frame.html === "string") this.content.innerHTML = sanitize(frame.html);
    decorateCode(this.article);
    if (this.timer !== null || (this.reasoning && this.thought === null)) this.thinkingEnded();
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
    const actions = this.article.querySelector(".actions");
    if (actions) actions.before(note);
    else this.article.append(note);
    return note;
  }
}
