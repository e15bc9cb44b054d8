// The chat page: one websocket per conversation, frames applied to the thread in place.
// Text is set with textContent; HTML goes into the page only through render.js's sanitizer.

import { StreamedMessage } from "./render.js";
import { setUpLoadMore, setUpTheme } from "./sidebar.js";

const chat = document.getElementById("chat");
const thread = document.getElementById("thread");
const form = document.getElementById("composer");
const prompt = document.getElementById("prompt");
const modelPicker = document.getElementById("model");
const sendButton = document.getElementById("send");
const stopButton = document.getElementById("stop");
const shareButton = document.getElementById("share");
const errorBanner = document.getElementById("error");
const statusLine = document.getElementById("status");
const csrfToken = chat.querySelector("input[name=csrfmiddlewaretoken]").value;

let conversationId = chat.dataset.conversation || null;
let socket = null;
let reconnectDelay = 500;
let queued = [];
const pendingSends = new Map(); // client_id → text typed, restored if the send fails
const streams = new Map(); // message id → StreamedMessage

// --- Thread ------------------------------------------------------------------------------
function messageElement(id) {
  return thread.querySelector(`article[data-id="${CSS.escape(id)}"]`);
}

function buildMessage(message) {
  const article = document.createElement("article");
  article.className = `message ${message.role}`;
  article.dataset.id = message.id;
  article.dataset.status = message.status;
  article.dataset.seq = "0";
  const role = document.createElement("div");
  role.className = "role";
  role.textContent = message.role === "user" ? "You" : message.model || "Grok";
  const content = document.createElement("div");
  content.className = "content plain";
  content.textContent = message.content || "";
  article.append(role, content);
  document.getElementById("welcome")?.remove();
  thread.append(article);
  return article;
}

// Copy, edit or regenerate, as on the messages the server renders.
function addActions(article) {
  if (article.querySelector(".actions")) return;
  const actions = document.createElement("div");
  actions.className = "actions";
  const button = (cls, label, text) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `icon ${cls}`;
    b.setAttribute("aria-label", label);
    b.textContent = text;
    actions.append(b);
  };
  button("copy", "Copy message", "Copy");
  if (article.classList.contains("user")) button("edit", "Edit message", "Edit");
  else button("regenerate", "Regenerate reply", "Regenerate");
  article.append(actions);
}

// A copy button on every code block of rendered replies.
function decorateCode(root) {
  for (const pre of root.querySelectorAll(".markdown pre")) {
    if (pre.querySelector("button.copy-code")) continue;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "icon copy-code";
    b.setAttribute("aria-label", "Copy code");
    b.textContent = "Copy";
    pre.prepend(b);
  }
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy"), 1500);
  } catch {
    showError("Copying was refused by the browser.");
  }
}

// Everything from `article` on leaves the screen: a new branch takes its place.
function cutFrom(article) {
  let node = article;
  while (node) {
    const next = node.nextElementSibling;
    if (node.matches("article.message, .candidates")) {
      streams.delete(node.dataset.id);
      node.remove();
    }
    node = next;
  }
}

function currentParams() {
  const params = {};
  const system = document.getElementById("system").value.trim();
  if (system) params.system = system;
  const temperature = document.getElementById("temperature").value;
  if (temperature !== "") params.temperature = Number(temperature);
  const maxTokens = document.getElementById("max-tokens").value;
  if (maxTokens !== "") params.max_tokens = Number(maxTokens);
  params.n = Number(document.getElementById("candidates").value || 1);
  return params;
}

// The max tokens a reply may ask for: the model's most and the plan's cap.
function clampMaxTokens() {
  const input = document.getElementById("max-tokens");
  const option = modelPicker.selectedOptions[0];
  const caps = [Number(option?.dataset.maxOutput || 0), Number(input.dataset.cap || 0)].filter((x) => x > 0);
  if (caps.length) input.max = String(Math.min(...caps));
  if (input.value && input.max && Number(input.value) > Number(input.max)) input.value = input.max;
}

async function post(url, data = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
    body: new URLSearchParams(data),
    credentials: "same-origin",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error?.message || "That did not work. Please try again.");
  return body;
}

async function switchTo(messageId) {
  try {
    await post(`/c/${conversationId}/switch/`, { message: messageId });
    location.reload();
  } catch (error) {
    showError(error.message);
  }
}

function editMessage(article) {
  const content = article.querySelector(".content");
  const original = content.textContent;
  const editor = document.createElement("form");
  editor.className = "editor";
  const area = document.createElement("textarea");
  area.value = original;
  area.setAttribute("aria-label", "Edited message");
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "primary";
  save.textContent = "Save & send";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary";
  cancel.textContent = "Cancel";
  editor.append(area, save, cancel);
  content.hidden = true;
  content.after(editor);
  area.focus();
  cancel.addEventListener("click", () => {
    editor.remove();
    content.hidden = false;
  });
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!area.value.trim()) return;
    // The edit is a new message under the same parent: a new branch.
    const parent = article.dataset.parent || null;
    cutFrom(article);
    sendMessage(area.value, parent);
  });
}

function stream(id) {
  let entry = streams.get(id);
  if (!entry) {
    const article = messageElement(id);
    if (!article) return null;
    entry = new StreamedMessage(article);
    streams.set(id, entry);
  }
  return entry;
}

function streamingIds() {
  return [...thread.querySelectorAll('article[data-status="streaming"]')].map((a) => a.dataset.id);
}

function refreshControls() {
  const busy = streamingIds().length > 0;
  stopButton.hidden = !busy;
  statusLine.textContent = busy ? "Grok is writing…" : "";
  shareButton.hidden = !conversationId || thread.querySelector("article.message") === null;
}

function scrollToEnd() {
  const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
  if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
}

// A new conversation gets its title (as the server makes it) and a place in the sidebar.
function nameConversation(firstMessage) {
  const title = document.getElementById("title");
  const href = `/c/${conversationId}/`;
  if (document.querySelector(`.conversation-list a[href="${href}"]`)) return;
  const words = firstMessage.split(/\s+/).filter(Boolean).join(" ");
  const name = words.length <= 60 ? words : words.slice(0, 59).trimEnd() + "…";
  title.textContent = name;
  document.title = `${name} · webchat`;
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = href;
  link.textContent = name;
  link.setAttribute("aria-current", "page");
  item.append(link);
  document.querySelector(".conversation-list .empty")?.remove();
  document.querySelector(".conversation-list").prepend(item);
}

function showError(text) {
  errorBanner.textContent = text;
  errorBanner.hidden = !text;
}

// --- Frames ------------------------------------------------------------------------------
const handlers = {
  ack(frame) {
    const pending =
      frame.client_id && thread.querySelector(`article[data-client-id="${CSS.escape(frame.client_id)}"]`);
    pendingSends.delete(frame.client_id);
    let article = pending;
    if (pending) {
      pending.dataset.id = frame.message.id;
      pending.dataset.status = "complete";
      delete pending.dataset.clientId;
    } else if (!messageElement(frame.message.id)) {
      article = buildMessage(frame.message);
    }
    if (article) {
      article.dataset.parent = frame.message.parent || "";
      addActions(article);
    }
    if (document.getElementById("title").textContent === "New chat") nameConversation(frame.message.content);
  },
  start(frame) {
    let group = null;
    if (frame.messages.length > 1) {
      // Candidates side by side; the person picks the one the conversation goes on from.
      group = document.createElement("section");
      group.className = "candidates";
      group.setAttribute("aria-label", `${frame.messages.length} candidate replies`);
      thread.append(group);
    }
    frame.messages.forEach((id, index) => {
      if (messageElement(id)) return;
      const article = buildMessage({ id, role: "assistant", status: "streaming", model: frame.model });
      if (group) {
        group.append(article);
        article.querySelector(".role").textContent = `${frame.model} · candidate ${index + 1}`;
        const pick = document.createElement("button");
        pick.type = "button";
        pick.className = "secondary pick";
        pick.textContent = "Continue from this one";
        article.append(pick);
      }
    });
    refreshControls();
    scrollToEnd();
  },
  delta(frame) {
    const entry = stream(frame.message);
    if (!entry) return;
    // A gap: ask for the whole text again rather than show a hole.
    if (!entry.delta(frame)) send({ type: "resume", message: frame.message, seq: entry.seq });
    scrollToEnd();
  },
  snapshot(frame) {
    stream(frame.message)?.snapshot(frame);
    refreshControls();
  },
  done(frame) {
    const entry = stream(frame.message);
    if (!entry) return;
    entry.done(frame);
    streams.delete(frame.message);
    const article = messageElement(frame.message);
    if (frame.usage) {
      article.title = `${frame.usage.prompt_tokens.toLocaleString("en")} prompt + ${frame.usage.completion_tokens.toLocaleString("en")} completion tokens`;
    }
    if (!article.closest(".candidates")) addActions(article);
    decorateCode(article);
    refreshControls();
    refreshAllowance();
  },
  error(frame) {
    showError(frame.message);
    if (frame.client_id && pendingSends.has(frame.client_id)) {
      // Nothing typed is lost: the text goes back into the composer.
      thread.querySelector(`article[data-client-id="${CSS.escape(frame.client_id)}"]`)?.remove();
      if (!prompt.value) prompt.value = pendingSends.get(frame.client_id);
      pendingSends.delete(frame.client_id);
    }
  },
};

// What the person has left, shown by the composer; the server applies the rule a send is
// held to (the conversation's prompt counts), so Send is enabled only when a send can pass.
async function refreshAllowance() {
  const allowance = document.getElementById("allowance");
  const response = await fetch(`/c/${conversationId}/composer/`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) return;
  const { can_send: canSend, text } = await response.json();
  allowance.textContent = text;
  allowance.classList.toggle("empty", !canSend);
  sendButton.disabled = !canSend;
}

// --- Socket ------------------------------------------------------------------------------
function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  else queued.push(frame);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/conversations/${conversationId}/`);
  socket.addEventListener("open", () => {
    reconnectDelay = 500;
    showError("");
    for (const id of streamingIds()) send({ type: "resume", message: id, seq: stream(id).seq });
    const backlog = queued;
    queued = [];
    backlog.forEach(send);
  });
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handlers[frame.type]?.(frame);
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4401) {
      location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname);
      return;
    }
    if (event.code === 4404) {
      showError("This conversation does not exist.");
      return;
    }
    if (event.code === 1009) {
      // The server refused a frame as too big: what was being sent goes back to the composer.
      for (const [clientId, text] of pendingSends) {
        thread.querySelector(`article[data-client-id="${CSS.escape(clientId)}"]`)?.remove();
        if (!prompt.value) prompt.value = text;
      }
      pendingSends.clear();
      showError("That message was too large to send.");
    } else {
      showError("Connection lost. Reconnecting…");
    }
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 10000);
  });
}

async function ensureConversation() {
  if (conversationId) return;
  const response = await fetch(chat.dataset.createUrl, {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error("Could not start a conversation.");
  const created = await response.json();
  conversationId = created.id;
  chat.dataset.conversation = created.id;
  shareButton.dataset.url = `${created.url}share/`;
  document.getElementById("export-md").href = `${created.url}export.md`;
  document.getElementById("export-json").href = `${created.url}export.json`;
  document.querySelector(".header-actions").hidden = false;
  history.replaceState(null, "", created.url);
  connect();
}

async function submit() {
  const text = prompt.value;
  if (!text.trim() || sendButton.disabled) return;
  const chars = [...text].length;
  const limit = Number(chat.dataset.maxChars);
  if (chars > limit) {
    // Refused here, and the text stays in the composer to be shortened.
    showError(`This message is too long (${chars.toLocaleString()} characters; the limit is ${limit.toLocaleString()}).`);
    return;
  }
  showError("");
  try {
    await ensureConversation();
  } catch (error) {
    showError(error.message);
    return;
  }
  prompt.value = "";
  sendMessage(text);
}

// `parent` undefined: after the current leaf; an id or null: a new branch there.
function sendMessage(text, parent) {
  const clientId = crypto.randomUUID();
  pendingSends.set(clientId, text);
  const article = buildMessage({ id: `pending-${clientId}`, role: "user", status: "sending", content: text });
  article.dataset.clientId = clientId;
  const frame = { type: "send", content: text, model: modelPicker.value, params: currentParams(), client_id: clientId };
  if (parent !== undefined) frame.parent = parent;
  send(frame);
  scrollToEnd();
}

// --- Sharing -----------------------------------------------------------------------------
async function share() {
  const response = await fetch(shareButton.dataset.url, {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
    credentials: "same-origin",
  });
  const body = await response.json();
  if (!response.ok) {
    showError(body.error?.message || "Could not share this conversation.");
    return;
  }
  const link = document.getElementById("share-link");
  link.value = body.url;
  document.getElementById("share-panel").hidden = false;
  await copyLink();
}

async function copyLink() {
  const link = document.getElementById("share-link");
  const button = document.getElementById("share-copy");
  try {
    await navigator.clipboard.writeText(link.value);
    button.textContent = "Copied";
  } catch {
    link.select(); // the person copies it themselves
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !stopButton.hidden) send({ type: "stop" });
});
stopButton.addEventListener("click", () => send({ type: "stop" }));
thread.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  const article = button.closest("article.message");
  if (button.classList.contains("copy-code")) {
    copyText(button.parentElement.querySelector("code")?.textContent || "", button);
  } else if (button.classList.contains("copy")) {
    copyText(article.querySelector(".content").innerText, button);
  } else if (button.classList.contains("edit")) {
    editMessage(article);
  } else if (button.classList.contains("regenerate")) {
    cutFrom(article);
    send({ type: "regenerate", message: article.dataset.id });
  } else if (button.classList.contains("pick")) {
    switchTo(article.dataset.id);
  } else if (button.classList.contains("prev") || button.classList.contains("next")) {
    const siblings = button.parentElement.dataset.siblings.split(",");
    const at = siblings.indexOf(article.dataset.id) + (button.classList.contains("next") ? 1 : -1);
    if (siblings[at]) switchTo(siblings[at]);
  }
});
document.getElementById("rename").addEventListener("click", () => {
  const form = document.getElementById("rename-form");
  const input = document.getElementById("rename-input");
  input.value = document.getElementById("title").textContent;
  form.hidden = false;
  document.getElementById("title").hidden = true;
  input.focus();
  input.select();
});
document.getElementById("rename-input").addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    document.getElementById("rename-form").hidden = true;
    document.getElementById("title").hidden = false;
  }
});
document.getElementById("rename-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const body = await post(`/c/${conversationId}/rename/`, { title: document.getElementById("rename-input").value });
    document.getElementById("title").textContent = body.title;
    document.title = `${body.title} · webchat`;
    const link = document.querySelector(`.conversation-list a[href="/c/${conversationId}/"]`);
    if (link) link.textContent = body.title;
  } catch (error) {
    showError(error.message);
  }
  document.getElementById("rename-form").hidden = true;
  document.getElementById("title").hidden = false;
});
document.getElementById("delete").addEventListener("click", async () => {
  if (!confirm("Delete this conversation? This cannot be undone.")) return;
  try {
    await post(`/c/${conversationId}/delete/`);
    location.href = "/";
  } catch (error) {
    showError(error.message);
  }
});
modelPicker.addEventListener("change", clampMaxTokens);
shareButton.addEventListener("click", share);
document.getElementById("share-copy").addEventListener("click", copyLink);

for (const id of streamingIds()) stream(id);
decorateCode(thread);
clampMaxTokens();
setUpTheme();
setUpLoadMore();
if (conversationId) connect();
refreshControls();
prompt.focus();
