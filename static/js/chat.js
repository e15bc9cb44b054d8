// The chat page: one websocket per conversation, its frames applied to the thread in place.
// The parts: socket.js (the connection), thread.js (the messages), composer.js (what is
// being written and sent), header.js (the conversation's title and actions).

import { Composer } from "./composer.js";
import { Header } from "./header.js";
import { pageConfig, post } from "./http.js";
import { setUpLoadMore, setUpTheme } from "./sidebar.js";
import { Socket } from "./socket.js";
import { Thread } from "./thread.js";

const config = pageConfig();
const chat = document.getElementById("chat");
const errorBanner = document.getElementById("error");
const thread = new Thread(document.getElementById("thread"));
const composer = new Composer(document.getElementById("composer"), config);
const header = new Header(config, showError);
let conversationId = chat.dataset.conversation || null;
let socket = null;

function showError(text) {
  errorBanner.textContent = text;
  errorBanner.hidden = !text;
}

function refreshControls() {
  composer.busy(thread.streamingIds().length > 0);
  header.shareable(Boolean(conversationId) && !thread.isEmpty());
}

function scrollToEnd() {
  const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
  if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
}

// A send that will not happen: its message leaves the thread, its text the composer keeps.
function unsend(clientId) {
  thread.element.querySelector(`article[data-client-id="${CSS.escape(clientId)}"]`)?.remove();
  composer.restore(clientId);
}

// --- Frames ------------------------------------------------------------------------------
const handlers = {
  ack(frame) {
    composer.acknowledged(frame.client_id);
    let article = frame.client_id && thread.element.querySelector(`article[data-client-id="${CSS.escape(frame.client_id)}"]`);
    if (article) {
      article.dataset.id = frame.message.id;
      article.dataset.status = "complete";
      delete article.dataset.clientId;
    } else if (!thread.article(frame.message.id)) {
      article = thread.add(frame.message);
    }
    if (article) {
      article.dataset.parent = frame.message.parent || "";
      thread.addActions(article);
    }
    if (header.isNew()) header.name(frame.message.content);
  },
  start(frame) {
    thread.start(frame);
    refreshControls();
    scrollToEnd();
  },
  delta(frame) {
    // A gap: ask for the whole text again rather than show a hole.
    if (!thread.delta(frame)) socket.send({ type: "resume", message: frame.message, seq: thread.stream(frame.message).seq });
    scrollToEnd();
  },
  snapshot(frame) {
    thread.snapshot(frame);
    refreshControls();
  },
  done(frame) {
    thread.done(frame);
    refreshControls();
    composer.refreshAllowance(conversationId);
  },
  error(frame) {
    showError(frame.message);
    if (frame.client_id) unsend(frame.client_id);
  },
};

// --- Socket ------------------------------------------------------------------------------
let lastLoggedOut = 0;

function connect() {
  socket = new Socket(config.url("socket", conversationId), {
    onOpen() {
      showError("");
      for (const id of thread.streamingIds()) socket.send({ type: "resume", message: id, seq: thread.stream(id).seq });
    },
    onFrame: (frame) => handlers[frame.type]?.(frame),
    onClose(event) {
      if (event.code === config.close.not_logged_in) {
        // A password change closes every socket of the person; a page whose session
        // survived it gets in again at once. Refused twice in a row: the session is over.
        const again = Date.now() - lastLoggedOut < 10000;
        lastLoggedOut = Date.now();
        if (!again) return true;
        location.href = `${config.urls.login}?next=${encodeURIComponent(location.pathname)}`;
        return false;
      }
      const final = {
        [config.close.not_found]: "This conversation does not exist.",
        [config.close.too_many]: "Too many tabs are open on this conversation or account. Close some, then reload this one.",
      }[event.code];
      if (final) {
        // Nothing sent from here would arrive: what was on its way goes back to the composer.
        for (const clientId of [...composer.pending.keys()]) unsend(clientId);
        composer.close(final);
        showError(final);
        return false;
      }
      if (event.code === config.close.too_big) {
        // The server refused a frame as too big: what was being sent goes back to the composer.
        for (const clientId of [...composer.pending.keys()]) unsend(clientId);
        showError("That message was too large to send.");
      } else {
        showError("Connection lost. Reconnecting…");
      }
      return true;
    },
  });
}

async function ensureConversation() {
  if (conversationId) return;
  const created = await post(config.urls.create).catch(() => {
    throw new Error("Could not start a conversation.");
  });
  conversationId = created.id;
  chat.dataset.conversation = created.id;
  header.show(created.id);
  history.replaceState(null, "", created.url);
  connect();
}

let submitting = false;

async function submit() {
  const { text, error } = composer.take();
  if (error) showError(error);
  // A second Enter or click while the first is still making the conversation sends nothing.
  if (!text || submitting) return;
  showError("");
  submitting = true;
  try {
    await ensureConversation();
    composer.clear();
    sendMessage(text);
  } catch (failure) {
    showError(failure.message);
  } finally {
    submitting = false;
  }
}

// `parent` undefined: after the current leaf; an id or null: a new branch there.
function sendMessage(text, parent) {
  const frame = composer.frame(text, parent);
  const article = thread.add({ id: `pending-${frame.client_id}`, role: "user", status: "sending", content: text });
  article.dataset.clientId = frame.client_id;
  socket.send(frame);
  scrollToEnd();
}

// --- The thread's buttons ----------------------------------------------------------------
async function switchTo(messageId) {
  try {
    await post(config.url("switch", conversationId), { message: messageId });
    location.reload();
  } catch (error) {
    showError(error.message);
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

// An edit is a new message under the same parent: a new branch.
function editMessage(article) {
  const content = article.querySelector(".content");
  const editor = document.createElement("form");
  editor.className = "editor";
  const area = document.createElement("textarea");
  area.value = content.textContent;
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
    const parent = article.dataset.parent || null;
    thread.cutFrom(article);
    sendMessage(area.value, parent);
  });
}

thread.element.addEventListener("click", (event) => {
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
    thread.cutFrom(article);
    socket.send({ type: "regenerate", message: article.dataset.id });
  } else if (button.classList.contains("pick")) {
    switchTo(article.dataset.id);
  } else if (button.classList.contains("prev") || button.classList.contains("next")) {
    const siblings = button.parentElement.dataset.siblings.split(",");
    const at = siblings.indexOf(article.dataset.id) + (button.classList.contains("next") ? 1 : -1);
    if (siblings[at]) switchTo(siblings[at]);
  }
});

// --- Keys --------------------------------------------------------------------------------
composer.form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
composer.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !composer.stopButton.hidden) socket?.send({ type: "stop" });
});
composer.stopButton.addEventListener("click", () => socket?.send({ type: "stop" }));

setUpTheme();
setUpLoadMore();
if (conversationId) {
  header.show(conversationId);
  connect();
}
refreshControls();
composer.prompt.focus();
