// The composer: the text being written, its settings, what the person has left, and the
// sends not yet acknowledged (their text goes back into the composer if they fail). What
// is typed is kept in this tab's sessionStorage until sent, so a reload, or a trip through
// the login page, does not lose it.

import { Attachments } from "./attachments.js";
import { getJSON } from "./http.js";

export class Composer {
  // `conversation()` answers the conversation's id, making it first if need be (an upload
  // needs one); `showError(text)` says what went wrong; `threadHasImages()` whether the
  // conversation on screen holds images.
  constructor(form, config, conversationId, { conversation, showError, threadHasImages }) {
    this.form = form;
    this.draftPrefix = `webchat-draft:${config.user}:`;
    this.draftKey = `${this.draftPrefix}${conversationId || "new"}`;
    this.config = config;
    this.prompt = form.querySelector("#prompt");
    this.model = form.querySelector("#model");
    this.sendButton = form.querySelector("#send");
    this.stopButton = form.querySelector("#stop");
    this.status = form.querySelector("#status");
    this.allowance = form.querySelector("#allowance");
    this.settings = form.querySelector("#settings");
    this.settingsButton = form.querySelector("#settings-button");
    this.pending = new Map(); // client_id → { text, files } sent, restored if the send fails
    this.unsent = 0; // sends that did not go so far (put back in the box, or never made)
    this.closedReason = ""; // set when this page's socket is gone for good
    this.streaming = false;
    this.model.addEventListener("change", () => this.clampMaxTokens());
    // A number past the most a reply may ask for shows as that most, not as typed.
    this.form.querySelector("#max-tokens").addEventListener("change", () => this.clampMaxTokens());
    this.form.querySelector("#max-tokens").addEventListener("input", () => {
      this.form.querySelector("#max-tokens-note").hidden = true;
    });
    this.clampMaxTokens();
    this.prompt.addEventListener("input", () => {
      this.fit();
      this.saveDraft();
    });
    if (!this.prompt.value) {
      this.prompt.value = this.storage("getItem") || "";
      this.fit();
    }
    this.settingsButton.addEventListener("click", () => this.showSettings(this.settings.hidden));
    // Escape in the panel, or on its button, closes it and goes back to the button.
    for (const element of [this.settings, this.settingsButton]) {
      element.addEventListener("keydown", (event) => {
        if (event.key !== "Escape" || this.settings.hidden) return;
        event.preventDefault();
        this.showSettings(false);
        this.settingsButton.focus();
      });
    }
    this.visionWarning = form.querySelector("#vision-warning");
    this.threadHasImages = threadHasImages;
    this.files = new Attachments(form.querySelector("#attachments"), config, {
      conversation,
      showError,
      changed: () => {
        this.checkVision();
        this.form.dispatchEvent(new Event("input")); // what the model will read has changed
      },
    });
    this.files.keepIn(this.filesKey());
    this.model.addEventListener("change", () => this.checkVision());
    this.checkVision();
    for (const [button, input] of [
      ["#attach", "#file-input"],
      ["#camera", "#camera-input"],
    ]) {
      const picker = form.querySelector(input);
      form.querySelector(button).addEventListener("click", () => picker.click());
      picker.addEventListener("change", () => {
        this.files.add(picker.files);
        picker.value = "";
      });
    }
    // A pasted image (a screenshot) is attached. What also holds text (cells copied from a
    // spreadsheet come with a picture of themselves) is pasted as its text.
    this.prompt.addEventListener("paste", (event) => {
      const data = event.clipboardData;
      const files = [...(data?.files || [])];
      if (!files.length || data.getData("text/plain")) return;
      event.preventDefault();
      const stamp = new Date().toTimeString().slice(0, 8).replaceAll(":", "");
      this.files.add(files.map((file, i) => pastedName(file, stamp, i)));
    });
  }

  filesKey(draftKey = this.draftKey) {
    return draftKey.replace("webchat-draft:", "webchat-files:");
  }

  // Images attached for a model that cannot read them: the composer says so before sending
  // (and will not send). Images earlier in the thread: it says the model will not see them.
  visionProblem() {
    const option = this.model.selectedOptions[0];
    if (!option || option.dataset.vision === "true" || !this.files.hasImages()) return "";
    const able = [...this.model.options].filter((o) => o.dataset.vision === "true").map((o) => o.textContent);
    if (!able.length) {
      return interpolate(gettext("%(model)s cannot read images, and no model here can: remove the images."), { model: option.textContent }, true);
    }
    return interpolate(
      gettext("%(model)s cannot read images. Pick a model that can (%(models)s), or remove the images."),
      { model: option.textContent, models: able.join(", ") },
      true,
    );
  }

  checkVision() {
    const problem = this.visionProblem();
    const option = this.model.selectedOptions[0];
    const blind = option && option.dataset.vision !== "true" && this.threadHasImages();
    const note =
      !problem && blind
        ? interpolate(gettext("%(model)s cannot read images: it will not see the images in this conversation."), { model: option.textContent }, true)
        : "";
    this.visionWarning.textContent = problem || note;
    this.visionWarning.classList.toggle("note-only", Boolean(note));
    this.visionWarning.hidden = !(problem || note);
  }

  storage(method, ...args) {
    try {
      return sessionStorage[method](this.draftKey, ...args);
    } catch {
      return null; // storage disabled: drafts live only in the page
    }
  }

  // A new conversation was just made for what is being sent: its draft goes with it.
  belongsTo(conversationId) {
    const draft = this.storage("getItem");
    this.storage("removeItem");
    this.draftKey = `${this.draftPrefix}${conversationId}`;
    if (draft) this.storage("setItem", draft);
    this.files.keepIn(this.filesKey());
  }

  // Whether this tab keeps words or files, not sent yet, for conversation `id`.
  keepsFor(id) {
    try {
      const draft = `${this.draftPrefix}${id}`;
      return Boolean(sessionStorage.getItem(draft) || sessionStorage.getItem(this.filesKey(draft)));
    } catch {
      return false;
    }
  }

  saveDraft() {
    if (this.prompt.value) this.storage("setItem", this.prompt.value);
    else this.storage("removeItem");
  }

  // A setting out of range would be refused once the text had left: the panel opens on it
  // instead, with the browser's own sentence, and nothing is sent.
  settingsValid() {
    const bad = [...this.settings.querySelectorAll("input")].find((input) => !input.checkValidity());
    if (!bad) return true;
    this.showSettings(true);
    bad.reportValidity();
    return false;
  }

  showSettings(open) {
    this.settings.hidden = !open;
    this.settingsButton.setAttribute("aria-expanded", String(open));
  }

  // The message box grows with its text, up to a third of the screen.
  fit() {
    const prompt = this.prompt;
    prompt.style.height = "auto";
    // Past one line, the text takes the box's whole width (on a phone, the buttons go
    // below it), and keeps it until it is emptied, so the box does not jump back and forth.
    const style = getComputedStyle(prompt);
    const lines = (prompt.scrollHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom)) / parseFloat(style.lineHeight);
    const box = prompt.parentElement;
    if (!prompt.value) box.classList.remove("tall");
    else if (lines > 1.5 && !box.classList.contains("tall")) {
      box.classList.add("tall");
      prompt.style.height = "auto";
    }
    prompt.style.height = `${Math.min(prompt.scrollHeight + 2, window.innerHeight / 3)}px`;
  }

  // The text to send, or an error sentence; the text stays in the composer until sent.
  take() {
    const text = this.prompt.value;
    if (this.closedReason) return { text: null, error: this.closedReason };
    if (!text.trim() && !this.files.count) return { text: null };
    // While a reply streams, Enter waits (the button is Stop); the text stays, and the
    // status, Stop and a word until the reply ends say why.
    if (this.streaming) {
      again(this.status, this.stopButton);
      return { text: null, error: gettext("Wait for the reply being written, or stop it first."), whileStreaming: true };
    }
    if (this.sendButton.disabled) return { text: null };
    // The warning above the box already says why: it says it again, and the model picker
    // is where it is mended.
    if (this.visionProblem()) {
      again(this.visionWarning);
      this.model.focus();
      return { text: null };
    }
    if (!this.settingsValid()) return { text: null };
    // Sent once the files are up (chat.js waits for them).
    if (this.files.uploading()) return { text: null, wait: true };
    const chars = [...text].length;
    const limit = this.config.max_chars;
    if (chars > limit) {
      return {
        text: null,
        error: interpolate(
          gettext("This message is too long (%(length)s characters; the limit is %(limit)s)."),
          { length: chars.toLocaleString(document.documentElement.lang), limit: limit.toLocaleString(document.documentElement.lang) },
          true,
        ),
      };
    }
    return { text };
  }

  // `sent` is on its way: the box empties of it (words typed after it while its
  // conversation was being made, on a slow network, stay), and the draft is kept until the
  // server has it.
  clear(sent = this.prompt.value) {
    const typed = this.prompt.value;
    this.prompt.value = typed === sent ? "" : typed.startsWith(sent) ? typed.slice(sent.length).trimStart() : typed;
    this.fit();
    this.showSettings(false); // the settings stay as set; the thread gets the room back
  }

  // A `send` frame for `text` and `files` (uploaded), remembered until the server
  // acknowledges it.
  frame(text, parent, files = []) {
    const clientId = crypto.randomUUID();
    this.pending.set(clientId, { text, files });
    const frame = { type: "send", content: text, model: this.model.value, params: this.params(), client_id: clientId };
    if (parent !== undefined) frame.parent = parent;
    if (files.length) frame.attachments = files.map((file) => file.id);
    return frame;
  }

  // `text`, put back by restore, is not to be sent again after all: it leaves the box.
  takeBack(text) {
    const value = this.prompt.value;
    const rest = value === text ? "" : value.startsWith(`${text}\n\n`) ? value.slice(text.length + 2) : null;
    if (rest === null) return;
    this.prompt.value = rest;
    this.prompt.dispatchEvent(new Event("input"));
  }

  acknowledged(clientId) {
    if (!this.pending.delete(clientId)) return;
    this.saveDraft(); // what is in the box now: nothing, or what was typed since
    // Candidates are asked for per message, as a reload shows: the next one has one reply.
    this.form.querySelector("#candidates").value = "1";
  }

  // A send failed: its text goes back into the composer (before anything typed since,
  // a blank line between), and its files into the tray.
  restore(clientId) {
    const sent = this.pending.get(clientId);
    if (!sent) return false;
    if (this.prompt.value !== sent.text) {
      this.prompt.value = this.prompt.value.trim() ? `${sent.text}\n\n${this.prompt.value}` : sent.text;
      this.fit();
      this.saveDraft();
    }
    this.files.putBack(sent.files);
    this.pending.delete(clientId);
    this.unsent++;
    return true;
  }

  params() {
    const params = {};
    const system = this.form.querySelector("#system").value.trim();
    if (system) params.system = system;
    const temperature = this.form.querySelector("#temperature").value;
    if (temperature !== "") params.temperature = Number(temperature);
    const maxTokens = this.form.querySelector("#max-tokens").value;
    if (maxTokens !== "") params.max_tokens = Number(maxTokens);
    params.n = Number(this.form.querySelector("#candidates").value || 1);
    return params;
  }

  // The max tokens a reply may ask for: the model's most and the plan's cap. A number
  // lowered to it says so beside the field, until the field changes again.
  clampMaxTokens() {
    const input = this.form.querySelector("#max-tokens");
    const note = this.form.querySelector("#max-tokens-note");
    const option = this.model.selectedOptions[0];
    const caps = [Number(option?.dataset.maxOutput || 0), Number(input.dataset.cap || 0)].filter((x) => x > 0);
    if (caps.length) input.max = String(Math.min(...caps));
    note.hidden = true;
    if (input.value && input.max && Number(input.value) > Number(input.max)) {
      const values = { asked: Number(input.value).toLocaleString(document.documentElement.lang), most: Number(input.max).toLocaleString(document.documentElement.lang) };
      note.textContent = interpolate(gettext("Lowered from %(asked)s to %(most)s, the most a reply may have here."), values, true);
      note.hidden = false;
      input.value = input.max;
    }
  }

  // A message on its way to the server says so until it is stored (or refused).
  sending(on) {
    if (!this.streaming) this.status.textContent = on ? gettext("Sending…") : "";
  }

  // While a reply streams, Send becomes Stop, in the same place.
  busy(streaming) {
    if (streaming === this.streaming) return;
    this.streaming = streaming;
    const hadFocus = document.activeElement === this.stopButton || document.activeElement === this.sendButton;
    this.stopButton.hidden = !streaming;
    this.sendButton.hidden = streaming;
    this.status.textContent = streaming ? gettext("Grok is writing…") : "";
    this.status.classList.remove("again");
    this.stopButton.classList.remove("again");
    // The button that had focus is gone: focus goes to its replacement, not the page.
    if (hadFocus) (streaming ? this.stopButton : this.prompt).focus({ preventScroll: true });
  }

  // What the person has left, by the rule a send is held to (the server applies it to
  // this conversation's prompt), so Send is enabled only when a send can pass.
  async refreshAllowance(conversationId) {
    let answer;
    try {
      answer = await getJSON(this.config.url("composer", conversationId));
    } catch {
      return;
    }
    this.allowance.textContent = answer.text;
    this.allowance.classList.toggle("empty", !answer.can_send);
    this.sendButton.disabled = !answer.can_send || Boolean(this.closedReason);
  }

  // This page can send no more (its socket was refused for good): Send stays disabled and
  // whatever is typed stays in the composer.
  close(reason) {
    this.closedReason = reason;
    this.sendButton.disabled = true;
  }
}

// A pasted file's name: browsers call every pasted picture "image.png".
function pastedName(file, stamp, index) {
  if (file.name && file.name !== "image.png") return file;
  const extension = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
  const name = `${interpolate(gettext("Pasted image %(stamp)s"), { stamp }, true)}${index ? `-${index + 1}` : ""}.${extension}`;
  return new File([file], name, { type: file.type });
}

// What already says why a send waits flashes, to be read again.
function again(...elements) {
  for (const element of elements) {
    element.classList.remove("again");
    void element.offsetWidth; // the animation starts over
    element.classList.add("again");
  }
}
