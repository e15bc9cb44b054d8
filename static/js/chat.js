// The chat page: one websocket per conversation, its frames applied to the thread in place.
// The parts: socket.js (the connection), thread.js (the messages), scroll.js (following
// the reply), composer.js (what is being written and sent), header.js (the conversation's
// title and actions), sidebar.js (the list of conversations), search.js (Ctrl+K) and
// dialog.js (the page's own dialogs and menus).

import { Composer } from "./composer.js";
import { ContextGauge, estimateTokens } from "./context.js";
import { PromptPicker } from "./prompts.js";
import { ask, openMenu, stepFor, trapFocus, viewImage } from "./dialog.js";
import { Header } from "./header.js";
import { Refusal, csrfToken, getJSON, pageConfig, post } from "./http.js";
import { downloadCode, plainText, showHtml } from "./render.js";
import { Scroller } from "./scroll.js";
import { SearchDialog } from "./search.js";
import { Sidebar, leave } from "./sidebar.js";
import { Socket } from "./socket.js";
import { Thread } from "./thread.js";

const config = pageConfig();
const chat = document.getElementById("chat");
const errorBanner = document.getElementById("error");
const composer = new Composer(document.getElementById("composer"), config, chat.dataset.conversation, {
  conversation: async () => {
    await ensureConversation();
    return conversationId;
  },
  showError,
  threadHasImages: () => Boolean(document.querySelector("#thread .attachments img")),
});
new PromptPicker(composer, config.prompts || []);
const models = Object.fromEntries([...composer.model.options].map((o) => [o.value, o.textContent]));
const thread = new Thread(document.getElementById("thread"), models);
const scroller = new Scroller(document.getElementById("scroller"), thread.element, document.getElementById("jump"));
const sidebar = new Sidebar(config, {
  current: () => conversationId,
  onRenamed: (title) => header.setTitle(title),
  showError,
});
const header = new Header(config, sidebar, showError);
const gauge = new ContextGauge(thread, composer, config, { summarize: (button) => summarize(button) });
const search = new SearchDialog(config.urls.search);
let conversationId = chat.dataset.conversation || null;
// A temporary chat: made as one, kept out of the sidebar, deleted when the page is left.
let temporary = chat.dataset.temporary === "true";
const temporaryToggle = document.getElementById("temporary");
temporaryToggle?.addEventListener("click", () => {
  temporary = !temporary;
  temporaryToggle.setAttribute("aria-pressed", String(temporary));
  document.getElementById("temporary-note").hidden = !temporary;
});
// A chat made for a file before its first message is still either: the page's choice goes
// to the server before the first message this page sends, refused if another tab has sent
// one (the message then waits in the box, and the page shows what that tab made the chat).
let unsettled = Boolean(temporaryToggle && conversationId);
async function settleTemporary() {
  if (!unsettled) return;
  try {
    const answer = await post(config.url("organise", conversationId), { temporary: String(temporary) });
    unsettled = false;
    adoptTemporary(temporary, answer.visit);
  } catch (error) {
    await learnTemporary();
    throw error;
  }
}
// What the server has this chat as, once its first message is stored (by another tab).
async function learnTemporary() {
  unsettled = false;
  temporaryToggle?.remove();
  try {
    const body = await getJSON(config.url("conversation", conversationId));
    adoptTemporary(body.temporary, "");
  } catch {
    /* not answered: the page keeps its own choice, the server's own stays the rule */
  }
}
function adoptTemporary(yes, visit) {
  temporary = yes;
  chat.dataset.temporary = String(yes);
  chat.dataset.visit = visit || "";
  document.getElementById("temporary-note").hidden = !yes;
  if (yes) setUnlisted(false); // not the new chat to come back to: deleted when left
  else if (!thread.isEmpty() && !sidebar.item(conversationId)) {
    sidebar.add(conversationId, header.title.textContent); // its first message came first
    header.listed(true);
  }
  rememberChat();
  refreshControls();
}
window.addEventListener("pagehide", () => {
  if (chat.dataset.temporary !== "true" || !conversationId) return;
  // The server waits a moment: a reload opens the page again and keeps it.
  fetch(config.url("leave", conversationId), {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: new URLSearchParams({ visit: chat.dataset.visit }),
    credentials: "same-origin",
    keepalive: true,
  });
});
let socket = null;
// A new version this page asked for (regenerate, continue, edit): the versions already at
// its place, so its ‹ n/n › arrows show as soon as it starts, and the messages it took off
// the screen, put back if the server refuses it. `clientId` names the frame asking.
let branching = null;
// An error about the reply being written (busy) goes when that reply ends.
let untilDone = false;

let countdown = null;
// Said by "New chat" of a message the server has yet to take, while that is true.
const STILL_ON_ITS_WAY = gettext("Your message is still on its way. Press New chat again once it has been sent.");
// What was last said of the connection itself, which the socket's opening takes back; what
// was said since of a message or a file ("the limit is 20.0 MB") stays.
let saidOfConnection = null;
function sayOfConnection(text) {
  saidOfConnection = text;
  showError(text);
}

// `retryAfter`: the seconds the sentence names last ("Try again in 46 s") count down, and
// the banner goes when they are up. `notice`: news that is not an error, not in red.
function showError(text, { whileStreaming = false, retryAfter = null, notice = false } = {}) {
  clearInterval(countdown);
  // Read out at once if an error; in turn if news.
  errorBanner.setAttribute("role", notice ? "status" : "alert");
  errorBanner.classList.toggle("notice", notice);
  errorBanner.textContent = text;
  errorBanner.hidden = !text;
  untilDone = whileStreaming;
  const at = retryAfter === null ? -1 : text.lastIndexOf(String(retryAfter));
  if (at < 0) return;
  const before = text.slice(0, at);
  const after = text.slice(at + String(retryAfter).length);
  const until = Date.now() + retryAfter * 1000;
  countdown = setInterval(() => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left > 0) errorBanner.textContent = before + left + after;
    else showError("");
  }, 1000);
}

function refreshControls() {
  const streaming = thread.streamingIds().length > 0;
  composer.busy(streaming);
  holdVersions(streaming);
  composer.checkVision();
  // A temporary chat is not shared: its link would die with it.
  header.shareable(Boolean(conversationId) && !thread.isEmpty() && !temporary);
  header.exportable(Boolean(conversationId) && !thread.isEmpty());
  gauge.update();
}

// While a reply is written, the thread stays on its branch: showing another would take the
// reply (and its Stop) off the page while it goes on.
function holdVersions(streaming) {
  const held = "[data-held]";
  const buttons = thread.element.querySelectorAll(streaming ? `.siblings button:not(:disabled), .pick` : held);
  for (const button of buttons) {
    button.disabled = streaming;
    if (streaming) button.dataset.held = "";
    else delete button.dataset.held;
  }
}

// The sends of this page the server has not yet answered (stored, or refused). A lost
// connection forgets those that went out (reconcile tells what became of them); those
// queued while it was down stay awaited.
const awaiting = new Set();

function arrived(clientId) {
  awaiting.delete(clientId);
  if (!awaiting.size) composer.sending(false);
}

// Sends a lost connection cut off before the server answered: stored or not, the server
// tells once the socket is back (reconcile).
const unanswered = [];

// Sends reconcile put back in the composer, by client id: their text, if an ack comes late.
const putBack = new Map();

function pendingArticle(clientId) {
  return thread.element.querySelector(`article[data-client-id="${CSS.escape(clientId)}"]`);
}

// What a thread shows, message by message: the same for the page and the server's copy
// unless a message came, went or ended meanwhile.
function threadState(root) {
  return [...root.querySelectorAll("article.message:not([data-client-id])")].map((article) => `${article.dataset.id}:${article.dataset.status}`).join();
}

// The frames that change what the thread holds (a message stored, a reply begun or ended),
// counted: a thread read before one of them, or before the thread was replaced (a version
// flipped to, another read), is out of date.
let changes = 0;
const moment = () => changes + (thread.replaced || 0);

// A caught-up read again in a while (one at a time, however many ask meanwhile).
let rereadTimer = null;
function rereadSoon(ms = 1000) {
  rereadTimer ??= setTimeout(() => {
    rereadTimer = null;
    reread();
  }, ms);
}

// A message being edited, or a version on its way, which a thread read again would undo.
function busyHere() {
  return Boolean(branching || thread.element.querySelector("form.editor"));
}

// The thread as the server has it now, in place of the page's: a message stored as sent
// by one of these sends (its client id) arrived, its reply going on or ended; without one,
// nothing arrived, and the text goes back to the composer. `caughtUp`: the socket was
// down, and another tab or device may have sent meanwhile (a frame missed is never sent
// again), so the thread is read even with nothing of this page's on its way.
async function reconcile(clientIds, { caughtUp = false } = {}) {
  if (!caughtUp && !clientIds.some(pendingArticle)) return;
  const onlyCaughtUp = caughtUp && !clientIds.length;
  if (onlyCaughtUp && busyHere()) {
    rereadSoon(); // once the edit or the version is done
    return;
  }
  let body;
  for (let tries = 1; ; tries++) {
    const seen = moment();
    try {
      body = await getJSON(config.url("conversation", conversationId));
    } catch (failure) {
      if (!clientIds.length) {
        if (socket.open) rereadSoon(3000); // else the next reconnection reads it
        return;
      }
      // Asked again in a moment, or at the next reconnection if the socket is down by then.
      unanswered.push(...clientIds);
      sayOfConnection(failure.message);
      setTimeout(() => socket.open && unanswered.length && reconcile(unanswered.splice(0)), 3000);
      return;
    }
    if (moment() === seen) break;
    // Frames came while it was read: what they showed may be missing from it.
    if (tries === 3) {
      rereadSoon(); // this page's own sends are told now, from this read; the rest later
      if (onlyCaughtUp) return;
      break;
    }
  }
  const still = clientIds.filter(pendingArticle); // an ack may have come meanwhile
  if (!still.length) {
    if (!caughtUp) return;
    const server = document.createElement("template");
    server.innerHTML = body.html;
    if (threadState(server.content) === threadState(thread.element)) return;
    if (busyHere()) {
      rereadSoon();
      return;
    }
  }
  const texts = new Map(still.map((clientId) => [clientId, composer.pending.get(clientId)?.text]));
  // Sends still on their way keep their place at the end, unless the server has them stored
  // already (their ack comes next).
  const queued = [...thread.element.querySelectorAll("article[data-client-id]")].filter((article) => !still.includes(article.dataset.clientId));
  // A message being edited (when this page's own sends must be told now) is opened again,
  // its words as they were.
  const editing = thread.element.querySelector("article.editing");
  const draft = editing && { id: editing.dataset.id, text: editing.querySelector("form.editor textarea")?.value };
  thread.replace(body.html);
  const stored = (clientId) => thread.element.querySelector(`article.message.user[data-sent-as="${CSS.escape(clientId)}"]`);
  for (const article of queued) {
    if (!stored(article.dataset.clientId)) thread.element.append(article);
    else if (branching?.clientId === article.dataset.clientId) branching = null; // the server's copy shows it
  }
  const reopened = draft && thread.article(draft.id);
  if (reopened?.querySelector(".edit")) {
    editMessage(reopened);
    reopened.querySelector("form.editor textarea").value = draft.text ?? "";
  }
  if (branching && still.includes(branching.clientId)) branching = null; // what it cut is gone
  resumeAll();
  let lost = false;
  for (const clientId of still) {
    if (stored(clientId)) {
      composer.acknowledged(clientId);
    } else {
      // Stored late after all (its ack comes then): the composer lets the text go again.
      putBack.set(clientId, texts.get(clientId));
      composer.restore(clientId);
      lost = true;
    }
  }
  if (lost) showError(gettext("The connection was lost before your message arrived. It is back in the box, to send again."));
  followModel();
  refreshControls();
  if (still.length) scroller.toEnd();
}

// The thread read again, one read at a time (the last asked for comes last).
let rereading = null;
let rereadAgain = false;
function reread() {
  if (rereading) {
    rereadAgain = true;
    return;
  }
  rereading = reconcile([], { caughtUp: true }).finally(() => {
    rereading = null;
    if (rereadAgain) {
      rereadAgain = false;
      reread();
    }
  });
}

// Whether `article`, a message just stored, follows on the page the one it answers
// (`parent`): not when another tab or device answered an earlier message meanwhile, or
// this one did while the page showed another tab's message, which makes a new version.
function followsItsParent(article, parent) {
  let before = article.previousElementSibling;
  while (before && !before.matches("article.message, .candidates")) before = before.previousElementSibling;
  if (!parent) return !before;
  if (!before) return false;
  if (before.matches("article.message")) return before.dataset.id === parent;
  return Boolean(before.querySelector(`article[data-id="${CSS.escape(parent)}"]`));
}

// A send that will not happen: its message leaves the thread, its text the composer keeps.
function unsend(clientId) {
  pendingArticle(clientId)?.remove();
  arrived(clientId);
  composer.restore(clientId);
}

// --- Frames ------------------------------------------------------------------------------
const handlers = {
  ack(frame) {
    changes++;
    composer.acknowledged(frame.client_id);
    // The first message, from another tab: the chat is what that tab made it.
    if (unsettled) learnTemporary();
    // Listed from its first message, as the server lists it (one made for a file alone,
    // never sent, is not), unless it is temporary.
    else if (unlisted && !temporary) {
      sidebar.add(conversationId, header.title.textContent); // renamed meanwhile, maybe
      header.listed(true);
    }
    setUnlisted(false);
    sidebar.bump(conversationId);
    if (putBack.has(frame.client_id)) {
      // Told lost, it was stored late: the text put back for sending again goes.
      composer.takeBack(putBack.get(frame.client_id));
      putBack.delete(frame.client_id);
      showError("");
    }
    arrived(frame.client_id);
    let article = frame.client_id && pendingArticle(frame.client_id);
    if (article) {
      article.dataset.id = frame.message.id;
      article.dataset.status = "complete";
      delete article.dataset.clientId;
    } else if (!thread.article(frame.message.id)) {
      article = thread.add(frame.message);
    }
    if (article) {
      article.dataset.parent = frame.message.parent || "";
      if (frame.message.tokens) article.dataset.tokens = String(frame.message.tokens);
      thread.addActions(article);
    }
    if (branching?.kind === "edit" && branching.clientId === frame.client_id) {
      if (article) thread.setSiblings(article, [...branching.siblings, frame.message.id]);
      branching = null; // else the thread read again shows it, with its arrows
    }
    // Out of place (a new version made elsewhere, or here while another tab's message
    // showed): the thread as the server has it, with the version arrows.
    if (article && !followsItsParent(article, frame.message.parent || null)) reread();
    if (header.isNew()) {
      // A message of files alone is named after them, as the server names it.
      const names = (frame.message.attachments || []).map((file) => file.name).join(" ");
      header.setTitle(titleFrom(frame.message.content || names));
    }
  },
  start(frame) {
    changes++;
    // Replies after a message this page does not show last (another tab or device made a
    // new version of a reply, or answered an earlier message): the thread as the server has it.
    const last = lastTurn();
    if (!branching && last && !last.matches("article.message.user") && !frame.messages.some((id) => thread.article(id))) {
      reread();
      return;
    }
    const [article] = thread.start(frame);
    followModel();
    if (article && branching?.kind === "reply") {
      // Candidates (several at once) are versions of their own, picked from.
      if (frame.messages.length === 1) thread.setSiblings(article, [...branching.siblings, frame.messages[0]]);
      branching = null;
    }
    refreshControls();
  },
  delta(frame) {
    // A gap: ask for the whole text again rather than show a hole.
    if (!thread.delta(frame)) resume(frame.message);
  },
  snapshot(frame) {
    resuming.delete(frame.message);
    thread.snapshot(frame);
    refreshControls();
  },
  done(frame) {
    changes++;
    resuming.delete(frame.message);
    thread.done(frame);
    // Summarize and retry needs something before the question it failed on.
    const article = thread.article(frame.message);
    let question = article && (article.closest(".candidates") || article).previousElementSibling;
    while (question && !question.matches("article.message.user")) question = question.previousElementSibling;
    if (!question?.dataset.parent) article?.querySelector(".summarize-retry")?.remove();
    refreshControls();
    if (untilDone && !composer.streaming) showError("");
    composer.refreshAllowance(conversationId);
  },
  error(frame) {
    // An ask for a reply's whole text, refused (too many at once): asked again at its next
    // gap once the wait is over, or its `done` brings it whole. Nothing for the person to do.
    if (frame.client_id?.startsWith("resume:")) {
      const id = frame.client_id.slice("resume:".length);
      setTimeout(() => resuming.delete(id), (frame.retry_after || 1) * 1000);
      return;
    }
    // A reply that failed says so in itself (its `done`); the banner is for refused frames.
    const aboutAReply = !frame.client_id && (frame.code.startsWith("upstream_") || frame.code === "context_too_long");
    if (!aboutAReply) {
      // A rate limit names its wait last, in every language shipped: that number counts down.
      const retryAfter = frame.code === "rate_limited" ? frame.retry_after ?? null : null;
      showError(frame.message, { whileStreaming: frame.code === "busy", retryAfter });
    }
    if (frame.client_id) unsend(frame.client_id);
    if (branching && frame.client_id === branching.clientId) thread.putBack(branching.removed);
    branching = null;
  },
};

// The sidebar's name for a new conversation, as the server makes it (models.py's
// _title_from): the words a reader sees of its start, or its raw words if none show, cut
// after a whole word.
// What a cut title leaves off its end before its "…": spaces, and a comma or the like.
const CUT_AFTER = /[\s,;:\u3001\uff0c\uff1b\uff1a]+$/u;
function titleFrom(text) {
  const words = plainText([...text].slice(0, 400).join("")) || text.split(/\s+/).filter(Boolean).join(" ");
  const chars = [...words];
  if (chars.length <= 60) return words;
  let head = chars.slice(0, 59).join("");
  const space = [...head].lastIndexOf(" ");
  if (!/\s/.test(chars[59]) && space >= 30) head = chars.slice(0, space).join("");
  return head.replace(CUT_AFTER, "") + "…";
}

// --- Socket ------------------------------------------------------------------------------
let lastLoggedOut = 0;

// The session ended: the login page says so, then comes back here.
function goToLogin() {
  location.href = `${config.urls.login}?next=${encodeURIComponent(location.pathname)}&ended=1`;
}

// The replies whose whole text was asked for and has not come: the deltas after a gap keep
// coming until the server reads the ask, and each asking again would spend the socket's
// allowance of frames for nothing.
const resuming = new Set();
function resume(id) {
  if (resuming.has(id)) return;
  resuming.add(id);
  socket.send({ type: "resume", message: id, seq: thread.stream(id).seq, client_id: `resume:${id}` });
}

// Every streaming reply, asked again (a socket opened anew, or the thread read again).
function resumeAll() {
  resuming.clear();
  for (const id of thread.streamingIds()) resume(id);
}

function connect() {
  let openedBefore = false;
  socket = new Socket(config.url("socket", conversationId), {
    onOpen() {
      chat.dataset.connection = "open"; // for a style, or a test, to tell
      if (errorBanner.textContent === saidOfConnection) showError("");
      resumeAll();
      // Frames queued meanwhile go once this is done: a message of theirs is not to be
      // swept off the page by the thread read here.
      const again = openedBefore;
      openedBefore = true;
      if (unanswered.length || again) return reconcile(unanswered.splice(0), { caughtUp: again });
    },
    onFrame: (frame) => handlers[frame.type]?.(frame),
    onClose(event) {
      chat.dataset.connection = "closed";
      // What went out may have arrived (reconcile asks); what is still queued goes when
      // the socket opens, and is still awaited: the next message waits for it.
      const queued = new Set(socket.queued.map((frame) => frame.client_id));
      const wentOut = [...awaiting].filter((id) => !queued.has(id));
      // A new version asked for that went out: made or not (its start may be lost with the
      // socket), the thread read once the socket is back shows which.
      if (branching?.kind === "reply" && !queued.has(branching.clientId)) branching = null;
      unanswered.push(...wentOut);
      wentOut.forEach(arrived);
      if (event.code === config.close.not_logged_in) {
        // A password change closes every socket of the person; a page whose session
        // survived it gets in again at once. Refused twice in a row: the session is over.
        const again = Date.now() - lastLoggedOut < 10000;
        lastLoggedOut = Date.now();
        if (!again) return true;
        goToLogin();
        return false;
      }
      const final = {
        [config.close.not_found]: gettext("This conversation does not exist."),
        [config.close.too_many]: gettext("Too many tabs are open on this conversation or account. Close some, then reload this one."),
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
        showError(gettext("That message was too large to send."));
      } else {
        sayOfConnection(gettext("Connection lost. Reconnecting…"));
      }
      return true;
    },
  });
}

window.addEventListener("offline", () => socket?.drop());
window.addEventListener("online", () => socket?.retryNow());

// The conversation being made (a send and the uploads of several files may all ask at once).
let creating = null;

// The conversation this tab has open, for the other pages' "Back to chat" (tab.js): none
// for a temporary chat, which is deleted when the page is left.
function rememberChat() {
  try {
    const key = `webchat-chat:${config.user}`;
    if (conversationId && !temporary) sessionStorage.setItem(key, location.pathname);
    else sessionStorage.removeItem(key);
  } catch {
    /* storage disabled: "Back to chat" opens a new chat */
  }
}
rememberChat();

// A conversation with no message yet (made for a file, here or on an earlier visit) is
// not in the list: it goes in with its first. Until then this tab remembers it, so that
// "New chat" from elsewhere goes back to it (goToNewChat).
const blankKey = `webchat-blank:${config.user}`;
let unlisted = false;
function setUnlisted(yes) {
  unlisted = yes;
  try {
    if (yes) sessionStorage.setItem(blankKey, conversationId);
    else if (sessionStorage.getItem(blankKey) === conversationId) sessionStorage.removeItem(blankKey);
  } catch {
    /* storage disabled: "New chat" opens a new one */
  }
}
setUnlisted(Boolean(conversationId) && !temporary && !thread.element.querySelector("article.message"));
if (unlisted) header.listed(false); // not pinned, moved or archived before it is listed
header.deleted = () => setUnlisted(false);

// Longer than the server's own wait for a busy database (20 s): a conversation made in the
// end is then answered in time, not made again by the message sent again.
const CREATE_TIMEOUT_MS = 45_000;

async function ensureConversation() {
  if (conversationId) return;
  // Not forever: a message whose conversation is never made goes back to be sent again.
  creating ??= post(config.urls.create, temporary ? { temporary: "1" } : {}, { timeout: CREATE_TIMEOUT_MS })
    .then((created) => {
      if (!created.id) throw new Error(gettext("Could not start a conversation."));
      conversationId = created.id;
      chat.dataset.conversation = created.id;
      chat.dataset.temporary = String(temporary);
      unsettled = Boolean(temporaryToggle?.isConnected); // made for a file, not for a message
      chat.dataset.visit = created.visit || "";
      composer.belongsTo(created.id);
      header.show(created.id);
      header.listed(false); // until its first message lists it
      setUnlisted(!temporary);
      history.replaceState(history.state, "", created.url); // an open drawer's step stays its own
      rememberChat();
      connect();
    })
    .catch((error) => {
      // The session ended: the login page, then back here (the draft is kept).
      if (error.code === "not_logged_in") {
        goToLogin();
        throw error;
      }
      if (error instanceof Refusal && error.code) throw error; // refused in the server's own words
      // fetch's TypeError: no answer at all (the server is down, or the network); or none in time.
      const unanswered = error instanceof TypeError || error.name === "TimeoutError";
      throw new Error(unanswered ? gettext("The server is not answering. Your message is still here, to send again in a moment.") : gettext("Could not start a conversation."));
    })
    .finally(() => {
      creating = null;
    });
  await creating;
}

let submitting = false;

async function submit() {
  if (submitting) return; // a second Enter while the first is still on its way
  const { text, error, wait, whileStreaming } = composer.take();
  if (error) showError(error, { whileStreaming });
  if (wait) {
    // Files still uploading: the message goes once they are up, unless one failed.
    submitting = true;
    composer.status.textContent = gettext("Sending once the files are uploaded…");
    await composer.files.settled();
    composer.status.textContent = "";
    submitting = false;
    const problems = composer.files.problems;
    if (!problems.length) return submit();
    composer.unsent++; // its text still in the box: "New chat" pressed meanwhile stays to say why
    showError(`${problems.join(" ")} ${gettext("Your message was not sent: send it again to send it without that file.")}`);
    return;
  }
  if (text === null) return;
  // A message still on its way (the server is storing it): the next one waits, its text
  // kept, as it waits for a reply being written.
  if (awaiting.size) return;
  showError("");
  submitting = true;
  composer.sending(true); // its conversation made first: on a slow network, seen at once
  // Temporary or not is decided with the first message (a chat made for a file before it
  // can still be either).
  temporaryToggle?.remove();
  try {
    await ensureConversation();
    await settleTemporary();
    // Candidates left unpicked: the conversation goes on from the first, so the page
    // shows that one in their place, as picking it would.
    const last = lastTurn();
    const first = last?.matches(".candidates") ? last.querySelector("article.message[data-id]")?.dataset.id : undefined;
    if (first) await switchTo(first, "prev", { follow: false }); // the model picked stays
    composer.clear(text);
    sendMessage(text, shownLeaf(), composer.files.take());
  } catch (failure) {
    composer.unsent++; // its text still in the box
    composer.sending(false);
    showError(failure.message);
  } finally {
    submitting = false;
  }
}

// The next message goes to the model of the last reply on screen, as a reload shows it;
// once the person has picked one on this page, to theirs, whatever is on screen.
let modelPicked = false;
let following = false;
composer.model.addEventListener("change", () => {
  if (!following) modelPicked = true;
});

function followModel() {
  if (modelPicked) return;
  const replies = thread.element.querySelectorAll("article.message.assistant[data-model]");
  const model = replies[replies.length - 1]?.dataset.model;
  if (!model || model === composer.model.value || !composer.model.querySelector(`option[value="${CSS.escape(model)}"]`)) return;
  composer.model.value = model;
  following = true;
  composer.model.dispatchEvent(new Event("change"));
  following = false;
}

// The thread's last message, or its last group of candidates.
function lastTurn() {
  return [...thread.element.children].filter((node) => node.matches("article.message, .candidates")).pop();
}

// The message on screen a new one answers: this page's branch, whatever another tab or
// device shows now (the server's current message follows the last one to move it).
// Undefined, the server's current message, for an empty thread.
function shownLeaf() {
  const last = lastTurn();
  const id = last?.matches("article.message") ? last.dataset.id : undefined;
  return id && !id.startsWith("pending-") ? id : undefined;
}

// `parent` undefined: after the current leaf; an id or null: a new branch there. `files`:
// the uploads that go with it.
function sendMessage(text, parent, files = []) {
  const frame = composer.frame(text, parent, files);
  const article = thread.add({ id: `pending-${frame.client_id}`, role: "user", status: "sending", content: text, attachments: files });
  article.dataset.clientId = frame.client_id;
  awaiting.add(frame.client_id);
  composer.sending(true);
  socket.send(frame);
  return frame.client_id;
}

// A new reply in place of `article`, by its model or `model`, with the settings as the
// panel shows them now (one left empty is the model's default).
function regenerate(article, model) {
  if (!composer.settingsValid()) return;
  const frame = { type: "regenerate", message: article.dataset.id, params: composer.params() };
  if (model) frame.model = model;
  newVersion(article, frame);
}

// A new version of the reply `article`: regenerated (maybe by another model) or continued.
function newVersion(article, frame) {
  if (composer.streaming) {
    showError(gettext("Wait for the reply being written, or stop it first."), { whileStreaming: true });
    return;
  }
  showError("");
  const clientId = crypto.randomUUID();
  branching = { kind: "reply", clientId, siblings: thread.siblingsOf(article), removed: thread.cutFrom(article) };
  socket.send({ ...frame, client_id: clientId });
  composer.prompt.focus({ preventScroll: true });
  scroller.toEnd();
}

// --- Summaries ---------------------------------------------------------------------------
// The model writes a summary of what it no longer reads (or, to retry a request it found
// too long, of everything before the last question); it stands in for those messages.
async function summarize(button, failed = null) {
  if (composer.streaming) {
    showError(gettext("Wait for the reply being written, or stop it first."), { whileStreaming: true });
    return false;
  }
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = gettext("Summarizing…");
  const leaves = thread.element.querySelectorAll("article.message[data-id]:not([data-status=sending])");
  const fields = {
    leaf: failed ? failed.dataset.id : leaves[leaves.length - 1]?.dataset.id,
    model: composer.model.value,
    system: composer.form.querySelector("#system").value,
    max_tokens: composer.form.querySelector("#max-tokens").value,
  };
  if (failed) fields.retry = "1";
  try {
    const { summary } = await post(config.url("summarize", conversationId), fields);
    showSummary(summary);
    showError("");
    return true;
  } catch (error) {
    showError(error.message);
    return false;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
    gauge.update();
  }
}

function showSummary(summary) {
  thread.element.querySelector(`aside.summary[data-through="${CSS.escape(summary.through)}"]`)?.remove();
  const aside = document.createElement("aside");
  aside.className = "summary";
  aside.dataset.id = summary.id;
  aside.dataset.through = summary.through;
  aside.dataset.tokens = String(estimateTokens(summary.content));
  const details = document.createElement("details");
  const title = document.createElement("summary");
  title.textContent = interpolate(
    ngettext(
      "Summary of %(counter)s earlier message: the model reads it in its place",
      "Summary of %(counter)s earlier messages: the model reads it in their place",
      summary.covers,
    ),
    { counter: summary.covers },
    true,
  );
  const content = document.createElement("div");
  content.className = "content markdown";
  showHtml(content, summary.html);
  details.append(title, content);
  aside.append(details);
  const through = thread.article(summary.through);
  const after = through?.closest(".candidates") || through;
  if (after) after.after(aside);
}

// --- The thread's buttons ----------------------------------------------------------------
// Show another branch in place: the server renders the thread through it.
async function switchTo(messageId, focusClass, { follow = true } = {}) {
  let body;
  try {
    body = await post(config.url("switch", conversationId), { message: messageId });
  } catch (error) {
    showError(error.message);
    return;
  }
  const top = scroller.element.scrollTop;
  thread.replace(body.html);
  scroller.element.scrollTop = top;
  scroller.keep();
  if (follow) followModel();
  const article = thread.article(messageId);
  if (article) {
    article.scrollIntoView({ block: "nearest" });
    const button = article.querySelector(`.siblings .${focusClass}:not(:disabled)`) || article.querySelector(".siblings button:not(:disabled)");
    (button || composer.prompt).focus({ preventScroll: true });
  } else {
    composer.prompt.focus({ preventScroll: true });
  }
  refreshControls();
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    const label = button.textContent;
    button.textContent = gettext("Copied");
    setTimeout(() => (button.textContent = label), 1500);
  } catch {
    showError(gettext("Copying was refused by the browser."));
  }
}

// The message being edited in this conversation and its words so far, in this tab.
const editDraft = {
  key: () => `webchat-edit:${config.user}:${conversationId}`,
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(this.key()));
    } catch {
      return null; // storage disabled, or not ours
    }
  },
  set(draft) {
    try {
      sessionStorage.setItem(this.key(), JSON.stringify(draft));
    } catch {
      /* storage disabled or full: the edit lives in the page only */
    }
  },
  clear() {
    try {
      sessionStorage.removeItem(this.key());
    } catch {
      /* storage disabled */
    }
  },
};

// The edit this tab was writing here (before a reload, or Back), open again with its words.
function reopenEdit() {
  const draft = conversationId && editDraft.get();
  const article = draft?.id && thread.article(draft.id);
  if (!article?.querySelector(".edit")) return;
  editMessage(article);
  const area = article.querySelector("form.editor textarea");
  area.value = draft.text ?? "";
  area.dispatchEvent(new Event("input"));
  scroller.show(article); // in view, where the page opened at its end
}

// An edit is a new message under the same parent: a new branch. One editor at a time.
function editMessage(article) {
  thread.element.querySelector("form.editor .cancel")?.click();
  scroller.keep();
  const content = article.querySelector(".content");
  const editButton = article.querySelector(".edit");
  const editor = document.createElement("form");
  editor.className = "editor";
  const area = document.createElement("textarea");
  area.value = content.textContent;
  area.setAttribute("aria-label", gettext("Edited message"));
  area.dir = "auto";
  const buttons = document.createElement("div");
  buttons.className = "editor-buttons";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary cancel";
  cancel.textContent = gettext("Cancel");
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "primary";
  save.textContent = gettext("Send");
  buttons.append(cancel, save);
  editor.append(area, buttons);
  content.hidden = true;
  article.classList.add("editing");
  content.after(editor);
  // The box holds the whole message, up to half the screen, and grows as it is written.
  const fit = () => {
    area.style.height = "auto";
    area.style.height = `${Math.min(area.scrollHeight + 2, window.innerHeight / 2)}px`;
  };
  fit();
  area.addEventListener("input", fit);
  area.setSelectionRange(area.value.length, area.value.length);
  area.focus({ preventScroll: true });
  // Its start in view, under the header, unless the message is taller than the screen.
  article.scrollIntoView({ block: "nearest" });
  // What is typed is kept in this tab until sent or given up, as the composer's draft is: a
  // reload, or Back and Forward, opens the editor again with it.
  const keep = () => editDraft.set({ id: article.dataset.id, text: area.value });
  area.addEventListener("input", keep);
  const close = () => {
    editor.remove();
    content.hidden = false;
    article.classList.remove("editing");
    editDraft.clear();
    editButton?.focus({ preventScroll: true });
  };
  cancel.addEventListener("click", close);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (sendsOnEnter(event)) {
      event.preventDefault();
      editor.requestSubmit();
    }
  });
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!area.value.trim() && !thread.filesOf(article).length) return;
    if (composer.streaming) {
      showError(gettext("Wait for the reply being written, or stop it first."), { whileStreaming: true });
      return;
    }
    const parent = article.dataset.parent || null;
    const siblings = thread.siblingsOf(article);
    editor.remove();
    content.hidden = false;
    article.classList.remove("editing");
    editDraft.clear();
    const removed = thread.cutFrom(article);
    // The edited version keeps the files of the one it replaces.
    branching = { kind: "edit", siblings, removed, clientId: sendMessage(area.value, parent, thread.filesOf(article)) };
    composer.prompt.focus({ preventScroll: true });
    scroller.toEnd();
  });
}

// Thumbs up or down (a second press takes it back), then an optional comment.
async function rate(article, button) {
  const rating = button.getAttribute("aria-pressed") === "true" ? "" : button.dataset.rating;
  const send = (comment = "") =>
    post(config.url("feedback", conversationId), { message: article.dataset.id, rating, comment });
  try {
    await send();
  } catch (error) {
    showError(error.message);
    return;
  }
  for (const thumb of article.querySelectorAll(".feedback")) {
    thumb.setAttribute("aria-pressed", String(thumb.dataset.rating === rating));
  }
  if (!rating) return;
  const comment = await ask({
    title: rating === "up" ? gettext("What was good about this reply?") : gettext("What was wrong with this reply?"),
    text: gettext("Optional: your words help whoever runs this site."),
    input: { label: gettext("Comment"), multiline: true, maxLength: 2000 },
    confirm: gettext("Send feedback"),
    fallback: button,
  });
  if (comment?.trim()) {
    try {
      await send(comment);
    } catch (error) {
      showError(error.message);
    }
  }
}

function regenerateWith(article, button) {
  openMenu(
    button,
    Object.entries(models).map(([slug, name]) => ({
      label: name,
      current: slug === article.dataset.model,
      action: () => regenerate(article, slug),
    })),
    gettext("Regenerate with"),
  );
}

thread.element.addEventListener("click", (event) => {
  const image = event.target.closest("a.attachment.image");
  if (image && event.button === 0 && !(event.ctrlKey || event.metaKey || event.shiftKey)) {
    event.preventDefault();
    viewImage(image.href, image.title, image.querySelector("img"));
    return;
  }
  const button = event.target.closest("button");
  if (!button) return;
  const article = button.closest("article.message");
  const is = (name) => button.classList.contains(name);
  if (is("copy-code")) copyText(button.closest(".code-bar").nextElementSibling.querySelector("code")?.textContent || "", button);
  else if (is("download-code")) downloadCode(button);
  else if (is("copy")) copyText(article.querySelector(".content").innerText, button);
  else if (is("edit")) editMessage(article);
  else if (is("regenerate")) regenerate(article);
  else if (is("regenerate-with")) regenerateWith(article, button);
  else if (is("continue")) newVersion(article, { type: "continue", message: article.dataset.id });
  else if (is("summarize-retry")) {
    summarize(button, article).then((done) => done && regenerate(article));
  }
  else if (is("feedback")) rate(article, button);
  else if (is("pick")) switchTo(article.dataset.id, "prev");
  else if (is("prev") || is("next")) {
    const siblings = button.parentElement.dataset.siblings.split(",");
    const at = siblings.indexOf(article.dataset.id) + (is("next") ? 1 : -1);
    if (siblings[at]) switchTo(siblings[at], is("next") ? "next" : "prev");
  }
});

// The ↓ button floats just above the composer, however tall its tray of files makes it.
new ResizeObserver(() => chat.style.setProperty("--composer-height", `${composer.form.offsetHeight}px`)).observe(composer.form);

// --- Files dropped on the page -----------------------------------------------------------
const dropZone = document.getElementById("drop-zone");
let dragDepth = 0;
const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
chat.addEventListener("dragenter", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dragDepth += 1;
  dropZone.hidden = false;
});
chat.addEventListener("dragleave", (event) => {
  if (!carriesFiles(event)) return;
  dragDepth = Math.max(dragDepth - 1, 0);
  if (!dragDepth) dropZone.hidden = true;
});
chat.addEventListener("drop", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dragDepth = 0;
  dropZone.hidden = true;
  composer.files.add(event.dataTransfer.files);
  composer.prompt.focus({ preventScroll: true });
});
// A file dropped anywhere else is not opened by the browser in place of the page.
for (const kind of ["dragover", "drop"]) {
  window.addEventListener(kind, (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = chat.contains(event.target) ? "copy" : "none";
  });
}

// --- Keys --------------------------------------------------------------------------------
composer.form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
  scroller.toEnd();
});
// A touch keyboard has no Shift: there its Return starts a new line, and Send sends.
const touchKeyboard = matchMedia("(pointer: coarse) and (hover: none)");
function sendsOnEnter(event) {
  return event.key === "Enter" && !event.shiftKey && !event.isComposing && !touchKeyboard.matches;
}
composer.prompt.addEventListener("keydown", (event) => {
  if (sendsOnEnter(event)) {
    event.preventDefault();
    submit();
    scroller.toEnd();
  }
});
// The page's first stop for the keyboard: past the list and the thread to the box.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  if (document.body.classList.contains("drawer-open")) sidebar.drawer(false); // the box behind it is inert
  composer.prompt.focus();
});
const typing = (target) => target.closest("input, textarea, select, [contenteditable]");
document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.target.closest("dialog, .popup-menu")) return;
  const mod = event.ctrlKey || event.metaKey;
  if (mod && event.key.toLowerCase() === "k") {
    event.preventDefault();
    search.open();
  } else if (mod && event.shiftKey && event.key.toLowerCase() === "o") {
    event.preventDefault();
    goToNewChat();
  } else if (event.key === "Escape" && event.shiftKey) {
    event.preventDefault();
    composer.prompt.focus();
  } else if (event.key === "Escape" && composer.streaming && !event.target.closest(".editor")) {
    socket?.send({ type: "stop" });
  } else if (event.key === "?" && !typing(event.target)) {
    event.preventDefault();
    const shortcuts = document.getElementById("shortcuts-dialog");
    if (!shortcuts.open) {
      stepFor(shortcuts); // Back closes it
      shortcuts.showModal();
    }
  }
});
composer.stopButton.addEventListener("click", () => socket?.send({ type: "stop" }));
// A chat made for a file and not sent yet is the new chat: "New chat" stays on it, with its
// files and words (a new chat's draft stays too), where leaving would lose the way back.
// The answer is whether it is such a chat; on it, the composer has the focus.
function stayOnBlankChat() {
  if (!conversationId || temporary || !thread.isEmpty()) return false;
  sidebar.drawer(false);
  composer.prompt.focus();
  return true;
}
// Left for another conversation, that chat is still the new chat while this tab keeps its
// words or files (and the server still has it: empty ones are cleaned up after a day). On
// the new-chat page itself, "New chat" stays there.
const newChat = document.querySelector("#sidebar .new-chat");
async function goToNewChat() {
  if (newChat.hasAttribute("aria-busy")) return;
  // A message on its way goes first: leaving before the server has it (its socket not
  // open yet, on a slow network) would lose it. One refused meanwhile is back in the box,
  // its error said: this chat stays. Past ten seconds it stays too, and says why.
  if (submitting || composer.pending.size) {
    newChat.setAttribute("aria-busy", "true");
    // On a phone the drawer goes at once: "Sending…" is seen while this waits, and what is
    // said after it.
    if (document.body.classList.contains("drawer-open")) sidebar.drawer(false);
    const unsent = composer.unsent;
    const deadline = performance.now() + 10_000;
    while ((submitting || composer.pending.size) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    newChat.removeAttribute("aria-busy");
    const refused = composer.unsent !== unsent;
    const waiting = submitting || composer.pending.size;
    if (refused) return;
    if (waiting) {
      showError(STILL_ON_ITS_WAY, { notice: true });
      // Said only while it is true.
      while (submitting || composer.pending.size) await new Promise((resolve) => setTimeout(resolve, 250));
      if (errorBanner.textContent === STILL_ON_ITS_WAY) showError("");
      return;
    }
  }
  if (stayOnBlankChat()) return;
  let blank = null;
  try {
    blank = conversationId && sessionStorage.getItem(blankKey);
  } catch {
    /* storage disabled */
  }
  // This one, with its first message on the way, is no longer new.
  if (blank && blank !== conversationId && composer.keepsFor(blank)) {
    const path = config.url("conversation", blank);
    newChat.setAttribute("aria-busy", "true"); // on a slow server, the click is seen
    const found = await fetch(path, { method: "HEAD", signal: AbortSignal.timeout(5000) }).catch(() => null);
    newChat.removeAttribute("aria-busy");
    if (found?.ok) {
      leave(path);
      return;
    }
    if (found?.status === 404) sessionStorage.removeItem(blankKey); // cleaned up, or deleted
  }
  leave(config.urls.home);
}
newChat.addEventListener("click", (event) => {
  if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return; // a new tab: a new chat
  event.preventDefault();
  goToNewChat();
});
// The gauge follows what is written, the files, the model and the settings.
composer.form.addEventListener("input", () => gauge.update());
// The sidebar's field: typing there is searching as you type, in the dialog.
for (const dialog of document.querySelectorAll("dialog")) trapFocus(dialog);
const sidebarSearch = document.getElementById("search-q");
// The shortcut is named where there is likely a keyboard to press it: not on a touch screen.
if (matchMedia("(hover: hover) and (pointer: fine)").matches) sidebarSearch.placeholder = sidebarSearch.dataset.withKeys;
sidebarSearch.addEventListener("input", () => {
  const text = sidebarSearch.value;
  sidebarSearch.value = "";
  search.open(text);
});

if (conversationId) {
  header.show(conversationId);
  connect();
}
refreshControls();
// A conversation opens at its latest message, or at the message a search found in it
// (`#m-<id>`): in another version of the thread, that version is shown first, as its ‹ ›
// would show it.
async function showFound() {
  const id = /^#m-([0-9a-f-]{36})$/.exec(location.hash)?.[1];
  if (!id || !conversationId) return;
  history.replaceState(history.state, "", location.pathname); // a reload opens at the latest message
  // Found from the phone's drawer in the conversation open behind it: the drawer goes.
  if (document.body.classList.contains("drawer-open")) sidebar.drawer(false);
  if (!thread.article(id) && !composer.streaming) await switchTo(id, "prev");
  const found = thread.article(id);
  if (!found) return;
  for (const other of thread.element.querySelectorAll("article.message.found")) other.classList.remove("found");
  found.classList.add("found");
  scroller.show(found);
}
scroller.toEnd();
showFound();
window.addEventListener("hashchange", showFound);
composer.prompt.focus({ preventScroll: true });
reopenEdit();
