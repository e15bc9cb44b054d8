// The chat page: one websocket per conversation, frames applied to the thread in place.
// Text is set with textContent; HTML goes into the page only through render.js's sanitizer.

import { StreamedMessage } from "./render.js";

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
    if (pending) {
      pending.dataset.id = frame.message.id;
      pending.dataset.status = "complete";
      delete pending.dataset.clientId;
    } else if (!messageElement(frame.message.id)) {
      buildMessage(frame.message);
    }
    if (document.getElementById("title").textContent === "New chat") nameConversation(frame.message.content);
  },
  start(frame) {
    for (const id of frame.messages) {
      if (!messageElement(id)) buildMessage({ id, role: "assistant", status: "streaming", model: frame.model });
    }
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

// What the person has left, shown by the composer; nothing left means no sending.
async function refreshAllowance() {
  const allowance = document.getElementById("allowance");
  const response = await fetch(allowance.href, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) return;
  const { usage } = await response.json();
  const canSend = usage !== null && usage.left >= Number(allowance.dataset.min);
  if (usage === null) allowance.textContent = "No plan: you cannot send messages";
  else if (canSend) allowance.textContent = `${usage.left.toLocaleString("en")} tokens left`;
  else allowance.textContent = `No tokens left until ${new Date(usage.resets_today).toLocaleString()}`;
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
    showError("Connection lost. Reconnecting…");
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
  history.replaceState(null, "", created.url);
  connect();
}

async function submit() {
  const text = prompt.value;
  if (!text.trim() || sendButton.disabled) return;
  showError("");
  try {
    await ensureConversation();
  } catch (error) {
    showError(error.message);
    return;
  }
  const clientId = crypto.randomUUID();
  pendingSends.set(clientId, text);
  const article = buildMessage({ id: `pending-${clientId}`, role: "user", status: "sending", content: text });
  article.dataset.clientId = clientId;
  prompt.value = "";
  send({ type: "send", content: text, model: modelPicker.value, client_id: clientId });
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
shareButton.addEventListener("click", share);
document.getElementById("share-copy").addEventListener("click", copyLink);

for (const id of streamingIds()) stream(id);
if (conversationId) connect();
refreshControls();
prompt.focus();
