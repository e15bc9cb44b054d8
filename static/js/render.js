// The browser's half of the one rendering policy (conversations/render.py is the other):
// markdown-it with raw HTML escaped, then DOMPurify keeping the same tags and attributes.
// Images become links and are never loaded; links get rel="noopener noreferrer nofollow".
// Table alignment becomes a class (the Content-Security-Policy refuses style attributes)
// and every block reads in its own direction (dir="auto"). Math becomes MathML (Temml, as
// latex2mathml does on the server), code is highlighted as it streams (highlight.js, its
// classes renamed to Pygments' so the colours are the server's), bare URLs become links
// and `- [ ]` items disabled checkboxes.

const MATH_TAGS = [
  "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup",
  "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
  "mstyle", "mpadded", "mphantom", "menclose", "merror", "mmultiscripts", "mprescripts",
  "none",
];
const MATH_ATTRIBUTES = [
  "display", "displaystyle", "scriptlevel", "mathvariant", "stretchy", "fence", "form",
  "separator", "accent", "accentunder", "largeop", "movablelimits", "symmetric", "lspace",
  "rspace", "minsize", "maxsize", "linethickness", "width", "height", "depth", "voffset",
  "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines",
  "frame", "notation",
];
const TAGS = [
  "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "span",
  "input", ...MATH_TAGS,
];
const ATTRIBUTES = ["href", "title", "class", "start", "dir", "checked", ...MATH_ATTRIBUTES];
const MATHML = "http://www.w3.org/1998/Math/MathML";
const LENGTH = /^-?(?:\d+\.?\d*|\.\d+)(?:em|ex|px|pt)?$/;
const LENGTHS = ["width", "height", "depth", "voffset", "lspace", "rspace", "minsize", "maxsize", "linethickness", "columnspacing", "rowspacing"];
const SCRIPT_LEVEL = /^[+-]?[0-2]$/;
// The same bounds as render.py: past them a formula is shown as its source.
const MATH_MAX_CHARS = 2000;
const MATH_MAX_DEPTH = 40;
const MATH_BUDGET = 20000;
// Temml takes about 0.15 ms a formula, and a streaming reply is shown again at every frame:
// 2,000 formulas took 0.4 s a time (0.1 s with this bound). Past this many, a formula shows
// as written until the reply ends (its `done` brings the server's rendering, all of them).
const MATH_MAX_FORMULAS = 200;
const SAFE_URL = /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i;
const DIRECTED = new Set(["paragraph_open", "heading_open", "list_item_open", "blockquote_open", "th_open", "td_open", "bullet_list_open", "ordered_list_open", "table_open"]);
const ALIGNED = new Set(["th_open", "td_open"]);
const ALIGN = /^text-align:(left|center|right)$/;

// Two parsers, made on first use and again once Temml or highlight.js has come: one reads
// math, one reads a text as written where it holds too many formula openings.
let parsers = {};

// The same token rule as render.py's `_blocks`: each block in the direction of its first
// letter, written out (with dir="auto", Chromium looks through a block again at each element
// added inside it: a list or table of thousands of rows took seconds to show).
function blocks(state) {
  let unresolved = []; // blocks open around here with no letter in them yet
  for (const token of state.tokens) {
    if (token.nesting === 1 && DIRECTED.has(token.type)) unresolved.push(token);
    else if (token.nesting === -1 && unresolved.at(-1)?.level === token.level) unresolved.pop();
    else if (token.type === "inline" && unresolved.length) {
      const dir = inlineDirection(token);
      if (dir) {
        for (const block of unresolved) block.attrSet("dir", dir);
        unresolved = [];
      }
    }
    if (ALIGNED.has(token.type)) {
      const align = ALIGN.exec(token.attrGet("style") || "");
      if (token.attrs) token.attrs = token.attrs.filter(([name]) => name !== "style");
      if (align) token.attrSet("class", `align-${align[1]}`);
    }
  }
}

// A letter, and the letters written right to left (as render.py's `_LETTER` and `_RTL`).
const LETTER = /\p{L}/u;
const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\u{10800}-\u{10fff}\u{1e800}-\u{1efff}]/u;

function inlineDirection(inline) {
  for (const child of inline.children || []) {
    const shown = ["text", "code_inline", "image"].includes(child.type) || child.type.startsWith("math");
    const letter = shown && LETTER.exec(child.content);
    if (letter) return RTL.test(letter[0]) ? "rtl" : "ltr";
  }
  return null;
}

function depth(tex) {
  let deepest = 0;
  let level = 0;
  for (const char of tex) {
    if (char === "{") deepest = Math.max(deepest, ++level);
    else if (char === "}") level--;
  }
  return deepest;
}

function math(display, escape) {
  return (tokens, index, _options, env) => {
    const tex = tokens[index].content;
    const length = [...tex].length; // in characters, as render.py counts them
    env.math = (env.math || 0) + length;
    env.formulas = (env.formulas || 0) + 1;
    if (env.formulas <= MATH_MAX_FORMULAS && env.math <= MATH_BUDGET && length <= MATH_MAX_CHARS && depth(tex) <= MATH_MAX_DEPTH) {
      try {
        // (`\mbox`, which Temml lacks, as its `\hbox`; a new macros object each time, as a
        // formula's `\gdef` would write to it.)
        const options = { displayMode: display, throwOnError: true, trust: false, maxSize: 5, macros: { "\\mbox": "\\hbox" } };
        const mathml = window.temml.renderToString(tex.trim(), options);
        // Its inline styles (a matrix's padding) would only be refused by the CSP, loudly;
        // a box (`\boxed{…}`, a final answer) is a class the page's CSS draws.
        return mathml.replace(/ style="padding:3pt;border:1px solid;"/g, ' class="tml-boxed"').replace(/ style="[^"]*"/g, "");
      } catch {
        // shown as written, below
      }
    }
    return `<code class="math-source">${escape(tex)}</code>`;
  };
}

// highlight.js scopes → the Pygments classes static/css/pygments.css colours.
const SCOPES = {
  keyword: "k", built_in: "nb", type: "kt", literal: "kc", number: "m", operator: "o",
  punctuation: "p", property: "py", regexp: "sr", string: "s", "char.escape": "se",
  subst: "si", symbol: "ss", variable: "nv", "template-variable": "vi", comment: "c",
  doctag: "sd", meta: "cp", section: "gh", tag: "nt", name: "nt", attr: "na", attribute: "na",
  "selector-tag": "nt", "selector-class": "nc", "selector-id": "ni", emphasis: "ge",
  strong: "gs", quote: "c1", deletion: "gd", addition: "gi", params: "",
};

function pygmentsClass(classes) {
  const [first, ...rest] = classes.split(" ");
  const scope = first.replace(/^hljs-/, "");
  if (scope === "title") return rest.includes("class_") ? "nc" : "nf";
  return Object.hasOwn(SCOPES, scope) ? SCOPES[scope] : "";
}

function highlight(code, language) {
  const name = language.trim();
  if (!name || !window.hljs?.getLanguage(name)) return "";
  try {
    const { value } = window.hljs.highlight(code, { language: name, ignoreIllegals: true });
    return value.replace(/<span class="([^"]*)">/g, (_, classes) => `<span class="${pygmentsClass(classes)}">`);
  } catch {
    return "";
  }
}

// A display formula only where it ends its line (render.py's `_whole_lines`): the plugin's
// block rule would drop the words after `$$x$$` on the same line. Its rule for a numbered
// one (`$$x$$ (1)`) is not used, as on the server: it dropped the number, and took a "(…)"
// starting the next line for one.
const BLANK = /^[ \t]*$/;
const DISPLAY = [["$$", "$$"], ["\\[", "\\]"]];

function wholeLines(rule) {
  return (state, start, end, silent) => {
    const src = state.src;
    const pos = state.bMarks[start] + state.tShift[start];
    for (const [opening, closing] of DISPLAY) {
      if (!src.startsWith(opening, pos)) continue;
      const close = src.indexOf(closing, pos + opening.length);
      const lineEnd = src.indexOf("\n", close);
      const rest = src.slice(close + closing.length, lineEnd >= 0 ? lineEnd : src.length);
      if (close < 0 || !BLANK.test(rest)) return false;
      // Closed past this block (opened in a quote, closed after it): no formula, as
      // render.py's plugin decides; this one showed the words twice.
      if (close >= state.eMarks[end - 1]) return false;
    }
    return rule(state, start, end, silent);
  };
}

// Temml (with markdown-it-texmath) and highlight.js are fetched the first time a reply
// being streamed needs them (a finished reply is the server's rendering): until then its
// math shows as written and its code uncoloured, and a page without either loads neither.
const extras = {};
let hooked = false;

function load(kind) {
  if (!extras[kind]) {
    const urls = (document.querySelector('meta[name="render-extras"]')?.dataset[kind] || "").split(" ").filter(Boolean);
    extras[kind] = urls.reduce(
      (previous, url) =>
        previous.then(
          () =>
            new Promise((resolve, reject) => {
              const script = document.createElement("script");
              script.src = url;
              script.onload = resolve;
              script.onerror = reject;
              document.head.append(script);
            }),
        ),
      Promise.resolve(),
    ).then(() => {
      parsers = {}; // made again with them, for the next delta
    });
  }
  return extras[kind];
}

// Both at once (the tests render with everything in place).
export function loadExtras() {
  return Promise.all([load("math"), load("code")]);
}

const MAYBE_MATH = /\$|\\[([]/;
const MAYBE_CODE = /```[ \t]*[\w+#.-]/;

// As render.py's MATH_OPENERS_MAX: markdown-it-texmath looks for the end of each `\(`, `\[`
// and `$$` through the rest of the text, so 20,000 of them, unclosed, took a second and a half
// per re-render of a streaming reply. Past this many, a text is read without math.
const MATH_OPENERS_MAX = 200;
const OPENERS = /\\[([]|\$\$/g;
// As render.py's LIST_ITEMS_MAX: the task list plugin looks for each box's list back
// through every item before it. In a text of more list items, no box is read as one.
const LIST_ITEMS_MAX = 500;
const LIST_ITEM = /^[ \t>]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/gm;

// How many times `pattern` (global) is found in `text`, counted up to `most` + 1.
function found(pattern, text, most) {
  let count = 0;
  for (pattern.lastIndex = 0; count <= most && pattern.exec(text); ) count++;
  return count;
}

function parser(withMath = true, withTasks = true) {
  const key = `${withMath} ${withTasks}`;
  let markdown = parsers[key];
  if (!markdown) {
    // Nested 20 deep at most, as render.py's parser (CommonMark's preset): markdown-it reads
    // an image's label again for each image it is in, 100 deep by default.
    markdown = parsers[key] = window.markdownit({ html: false, linkify: true, typographer: false, highlight, maxNesting: 20 });
    const escape = markdown.utils.escapeHtml;
    markdown.renderer.rules.image = (tokens, index) => {
      const token = tokens[index];
      return `<a href="${escape(token.attrGet("src") || "")}">${escape(token.content || "image")}</a>`;
    };
    if (withMath && window.texmath && window.temml) {
      // `$…$` holds no `$`, as render.py's plugin reads it ("$5 and later $10" is no formula).
      const inline = window.texmath.rules.dollars.inline.find((rule) => rule.name === "math_inline");
      inline.rex = /\$((?:[^\s\\$])|(?:[^\s$][^$]*?[^\s\\$]))\$/gy;
      // `\(…\)`, and `\[…\]` within a line (display math, as `$$…$$`), as render.py reads
      // them: a formula of at most MATH_MAX_CHARS, so that an opener is read over that many
      // characters at most, however often markdown-it reads a text again (an image's label
      // once for each image it is in).
      const brackets = window.texmath.rules.brackets.inline;
      // (Counted in characters, as Python counts them: "u"; `\(…\)` across a line break: "s".)
      brackets.find((rule) => rule.name === "math_inline").rex = new RegExp(String.raw`\\\((.{1,${MATH_MAX_CHARS}}?)\\\)`, "suy");
      if (!brackets.some((rule) => rule.name === "math_inline_bracket")) {
        const rex = new RegExp(String.raw`\\\[(.{1,${MATH_MAX_CHARS}}?)\\\]`, "uy");
        brackets.unshift({ name: "math_inline_bracket", rex, tmpl: "$1", tag: "\\[", displayMode: true });
      }
      // `$…$` as the server's plugin reads it, with no `$` inside ("$\\textbf{\\$5}$" was a
      // formula here and text there), two characters or more first.
      window.texmath.rules.dollars.inline.find((rule) => rule.name === "math_inline").rex = /\$((?:\S[^$]*?[^\s\\])|[^$\s\\])\$/uy;
      // $…$, $$…$$, \(…\) and \[…\], as render.py reads them.
      markdown.use(window.texmath, { engine: window.temml, delimiters: ["dollars", "brackets"] });
      for (const name of ["math_inline", "math_single"]) markdown.renderer.rules[name] = math(false, escape);
      for (const name of ["math_block", "math_inline_double", "math_inline_bracket"]) {
        markdown.renderer.rules[name] = math(true, escape);
      }
      for (const rule of markdown.block.ruler.__rules__) {
        if (rule.name === "math_block_eqno") rule.fn = () => false;
        else if (rule.name === "math_block") rule.fn = wholeLines(rule.fn);
      }
    }
    if (withTasks) markdown.use(window.markdownitTaskLists);
    markdown.core.ruler.push("blocks", blocks);
  }
  if (!hooked) {
    hooked = true;
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        // In a tab of its own, as render.py's: the conversation stays where it was.
        node.setAttribute("rel", "noopener noreferrer nofollow");
        node.setAttribute("target", "_blank");
      }
      else node.removeAttribute("href");
      // A length a formula sets is a few em at most, a script level 0 to 2 (render.py's
      // `_bounded`).
      if (node.namespaceURI === MATHML) {
        for (const name of LENGTHS) {
          const value = node.getAttribute(name);
          const bounded = (part) => LENGTH.test(part) && Math.abs(parseFloat(part) || 0) <= 5;
          if (value !== null && !value.split(/\s+/).filter(Boolean).every(bounded)) node.removeAttribute(name);
        }
        if (node.hasAttribute("scriptlevel") && !SCRIPT_LEVEL.test(node.getAttribute("scriptlevel"))) node.removeAttribute("scriptlevel");
      }
      // Temml's own classes on math, never one a formula names (\class{…}).
      if (node.namespaceURI === MATHML && /(?:^|\s)(?!tml-)\S/.test(node.getAttribute("class") || "")) {
        node.removeAttribute("class");
      }
      if (node.tagName === "INPUT") {
        node.setAttribute("type", "checkbox");
        node.setAttribute("disabled", "disabled");
      }
    });
  }
  return markdown;
}

// HTML from anywhere (ours or the server's) goes through the same filter before the DOM:
// `element` shows it in place of what it held.
export function showHtml(element, html) {
  parser(); // installs the filter's hook
  const fragment = window.DOMPurify.sanitize(html, {
    ALLOWED_TAGS: TAGS,
    ALLOWED_ATTR: ATTRIBUTES,
    ALLOWED_URI_REGEXP: SAFE_URL,
    RETURN_DOM_FRAGMENT: true,
  });
  element.replaceChildren(fragment);
}

// What a reader sees of a text, as plain words (no `**`, no `#`), as render.py's plain_text
// makes them: a new conversation's title is its first message's, shown before the server's.
// `\(x\)` stays as written, as the rendered message shows it (a formula), not as `(x)`;
// so do LaTeX's escapes of characters that mean nothing to markdown (`x\,dx`, `\{a\}`).
const MATH_ESCAPES = new Set(["\\(", "\\)", "\\[", "\\]", "\\{", "\\}", "\\,", "\\;", "\\:", "\\%", "\\&"]);
function keepMathEscapes(state) {
  for (const block of state.tokens) {
    for (const token of block.children || []) {
      if (token.type === "text_special" && MATH_ESCAPES.has(token.markup)) token.content = token.markup;
    }
  }
}
let plain = null;
export function plainText(text) {
  if (!plain) {
    plain = window.markdownit("commonmark", { html: false, linkify: false }).enable(["table", "strikethrough"]);
    plain.core.ruler.before("text_join", "keep_math_escapes", keepMathEscapes);
    // A column's alignment is a style attribute, which the CSP refuses even in a parsed
    // document that is never shown (loudly, in the console); only the words are wanted.
    plain.core.ruler.push("no_alignment", (state) => {
      for (const token of state.tokens) if (ALIGNED.has(token.type)) token.attrs = null;
    });
  }
  const html = plain.render([...text].slice(0, 2000).join(""));
  const words = new DOMParser().parseFromString(html, "text/html").body.textContent;
  return words.split(/\s+/).filter(Boolean).join(" ");
}

// `element` shows `text` rendered, in place of what it held.
export function showMarkdown(element, text) {
  if (!window.temml && MAYBE_MATH.test(text)) load("math").catch(() => {});
  if (!window.hljs && MAYBE_CODE.test(text)) load("code").catch(() => {});
  const markdown = parser(found(OPENERS, text, MATH_OPENERS_MAX) <= MATH_OPENERS_MAX, found(LIST_ITEM, text, LIST_ITEMS_MAX) <= LIST_ITEMS_MAX);
  showHtml(element, markdown.render(text, {}));
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
    copy.setAttribute("aria-label", language ? interpolate(gettext("Copy %(language)s"), { language }, true) : gettext("Copy code"));
    copy.textContent = gettext("Copy");
    const save = document.createElement("button");
    save.type = "button";
    save.className = "icon download-code";
    save.setAttribute("aria-label", language ? interpolate(gettext("Download %(language)s"), { language }, true) : gettext("Download code"));
    const key = language.toLowerCase();
    save.dataset.extension = Object.hasOwn(EXTENSIONS, key) ? EXTENSIONS[key] : "txt";
    save.textContent = gettext("Download");
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
  return interpolate(gettext("Thought for %(seconds)s s"), { seconds: Math.max(1, Math.round(ms / 1000)) }, true);
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
    this.painted = 0; // when the text was last painted, and how long that took (ms)
    this.cost = 0;
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

  // A paint that took long (a text slow to lay out: thousands of code spans in one
  // paragraph took a second) is followed by a pause four times as long before the next,
  // so that the page stays usable while such a reply streams.
  schedule() {
    if (this.pending) return;
    this.pending = true;
    const frame = () => {
      this.painting = requestAnimationFrame(() => {
        this.pending = false;
        this.paint();
      });
    };
    const pause = this.painted + 4 * this.cost - performance.now();
    if (pause > 0) this.waiting = setTimeout(frame, pause);
    else frame();
  }

  // `text` false: the reasoning alone (the reply's text is about to be replaced).
  paint(text = true) {
    if (text) {
      const started = performance.now();
      showMarkdown(this.content, this.text);
      decorateCode(this.article);
      this.painted = performance.now();
      this.cost = this.painted - started;
    }
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
      this.summary().textContent = seconds ? interpolate(gettext("Thinking… %(seconds)s s"), { seconds }, true) : gettext("Thinking…");
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
      summary.textContent = gettext("Thinking…");
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
    if (this.pending) {
      // A paint still waiting would come after the server's rendering, and replace it (its
      // math still as written, if Temml had not arrived): the last deltas are painted now,
      // the text only if the server's rendering does not come with this frame.
      clearTimeout(this.waiting);
      cancelAnimationFrame(this.painting);
      this.pending = false;
      this.paint(typeof frame.html !== "string");
    }
    this.article.dataset.status = frame.status;
    this.article.dataset.finish = frame.finish_reason || "";
    if (typeof frame.html === "string") showHtml(this.content, frame.html);
    decorateCode(this.article);
    if (this.timer !== null || (this.reasoning && this.thought === null)) this.thinkingEnded();
    const notes = {
      stopped: gettext("Stopped."),
      interrupted: gettext("Interrupted: the server stopped while writing this reply."),
    };
    if (frame.status === "error") {
      const note = this.note(frame.error?.message || gettext("This reply failed."), true);
      if (frame.error?.code === "context_too_long") {
        const retry = document.createElement("button");
        retry.type = "button";
        retry.className = "link summarize-retry";
        retry.textContent = gettext("Summarize and retry");
        note.append(" ", retry);
      }
    }
    else if (frame.limited_by) this.note(gettext("Cut short: your tokens ran out."));
    else if (frame.finish_reason === "length") this.note(gettext("Cut short: the reply reached its length limit."));
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
