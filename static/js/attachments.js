// Files attached in the composer: picked (or photographed), pasted or dropped. Each is
// uploaded at once, its progress shown on its chip, and can be removed until the message
// goes; the server's ids of the uploaded ones go with the `send` frame. The uploaded ones
// are kept in the tab (sessionStorage) with the draft, so a reload keeps them too.

import { csrfToken } from "./http.js";

// As Django's filesizeformat writes it on the server's pages, in the page's language ("146,5
// KB" in Spanish); `round`: "up" for a size over a limit and "down" for the limit, so that
// the one never reads as the other ("20.0 MB; the limit is 20.0 MB").
export function formatSize(bytes, { round = "" } = {}) {
  if (bytes < 1024) return interpolate(ngettext("%(count)s byte", "%(count)s bytes", bytes), { count: bytes }, true);
  for (const [unit, size] of [
    ["KB", 1024],
    ["MB", 1024 ** 2],
    ["GB", 1024 ** 3],
  ]) {
    if (bytes < size * 1024 || unit === "GB") {
      const tenths = (bytes / size) * 10;
      const figure = (round === "up" ? Math.ceil(tenths) : round === "down" ? Math.floor(tenths) : tenths) / 10;
      return `${figure.toLocaleString(document.documentElement.lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 })} ${unit}`;
    }
  }
}

// A document's icon, as conversations/_message.html draws it.
export function fileIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "file-icon");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", FILE_ICON);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}
const UPLOADS_AT_ONCE = 2;
const FILE_ICON = "M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5L13 3.5z";

// Whether the server would refuse the file for what its first bytes are (neither an image,
// a PDF nor text: conversations/files.py), so it is told at once, not after the whole
// file went up. Only sure cases: a zero byte early in what has no accepted image's, a
// PDF's or UTF-16 text's mark (an archive, a program, an office document, a TIFF).
const MARKS = [
  [0x25, 0x50, 0x44, 0x46, 0x2d], // %PDF-
  [0x89, 0x50, 0x4e, 0x47], // PNG
  [0xff, 0xd8, 0xff], // JPEG
  [0x47, 0x49, 0x46, 0x38], // GIF8
  [0x42, 0x4d], // BMP
  [0x52, 0x49, 0x46, 0x46], // RIFF (WebP)
  [0xff, 0xfe], // UTF-16, little-endian
  [0xfe, 0xff], // UTF-16, big-endian
];
async function unreadable(file) {
  let head;
  try {
    head = new Uint8Array(await file.slice(0, 4096).arrayBuffer());
  } catch {
    return false; // the server says what is wrong
  }
  const marked = (mark, at = 0) => mark.every((byte, i) => head[at + i] === byte);
  // An ISO box ("ftyp" after its size) is AVIF or not: the server tells.
  if (MARKS.some((mark) => marked(mark)) || marked([0x66, 0x74, 0x79, 0x70], 4)) return false;
  return head.includes(0);
}

export class Attachments {
  // `conversation()` answers the conversation's id, making it first if need be;
  // `showError(text)` shows a sentence (empty: none); `changed()` follows every change.
  constructor(tray, config, { conversation, showError, changed }) {
    this.tray = tray;
    this.config = config;
    this.conversation = conversation;
    this.showError = showError;
    this.changed = changed;
    this.items = []; // { file, name, kind, state: "uploading" | "done", upload, data, element }
    this.queue = []; // items whose upload has not started: two go at a time
    this.active = 0;
    this.problems = []; // what went wrong with the files of the last add(), shown together
    this.waiting = []; // settled() promises, resolved when no upload is in flight
    this.storageKey = null;
  }

  get count() {
    return this.items.length;
  }

  uploading() {
    return this.items.some((item) => item.state === "uploading");
  }

  // Resolves once no upload is in flight (at once if none is).
  settled() {
    if (!this.uploading()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  hasImages() {
    return this.imageCount() > 0;
  }

  imageCount() {
    return this.items.filter((item) => item.kind === "image").length;
  }

  // What the model will read of the text files and PDFs (as their upload answered).
  textTokens() {
    return this.items.reduce((sum, item) => sum + (item.data?.tokens || 0), 0);
  }

  // Files from the picker, the clipboard or a drop.
  add(files) {
    this.clearProblems();
    const most = this.config.attachments_per_message;
    const list = [...files];
    const room = Math.max(most - this.items.length, 0);
    if (list.length > room) {
      const left = list.slice(room).map((file) => `“${file.name}”`);
      this.problem(
        interpolate(
          ngettext(
            "A message can carry at most %(most)s files: %(names)s was left out.",
            "A message can carry at most %(most)s files: %(names)s were left out.",
            left.length,
          ),
          { most, names: left.join(", ") },
          true,
        ),
      );
    }
    for (const file of list.slice(0, room)) {
      if (file.size > this.config.attachment_max_bytes) {
        const limit = formatSize(this.config.attachment_max_bytes, { round: "down" });
        // The name without the controls that would reorder the sentence around it.
        const name = file.name.replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "");
        this.problem(interpolate(gettext("“%(name)s” is %(size)s; the limit is %(limit)s."), { name, size: formatSize(file.size, { round: "up" }), limit }, true));
      } else {
        this.start(file);
      }
    }
  }

  start(file) {
    const image = file.type.startsWith("image/");
    const item = { file, name: file.name, kind: image ? "image" : "text", state: "uploading" };
    item.element = this.chip(item, image ? URL.createObjectURL(file) : null);
    this.items.push(item);
    this.queue.push(item);
    this.update();
    this.pump();
  }

  // The server reads a couple of a person's files at a time: the page sends two at once.
  pump() {
    while (this.active < UPLOADS_AT_ONCE && this.queue.length) {
      const item = this.queue.shift();
      if (!this.items.includes(item)) continue; // removed while waiting
      this.active += 1;
      this.upload(item).finally(() => {
        this.active -= 1;
        this.pump();
      });
    }
  }

  async upload(item, tries = 1) {
    if (tries === 1) {
      const refused = await unreadable(item.file);
      if (!this.items.includes(item)) return; // removed meanwhile
      if (refused) {
        const sentence = gettext("“%(name)s” is not an image, a PDF or text. Attach images (JPEG, PNG, WebP, GIF, BMP, AVIF), PDFs, or text files (plain text, Markdown, code, CSV).");
        this.fail(item, interpolate(sentence, { name: item.name }, true));
        return;
      }
    }
    let conversationId;
    try {
      conversationId = await this.conversation();
    } catch (failure) {
      this.fail(item, failure.message);
      return;
    }
    if (!this.items.includes(item)) return; // removed meanwhile
    const answer = await this.send(item, conversationId);
    if (answer === null) return; // aborted by its ✕
    const { status, body } = answer;
    const wait = body.error?.retry_after;
    if ((status === 429 || status === 503) && wait && tries < 3 && this.items.includes(item)) {
      // Busy for a moment: tried again shortly, as the sentence would tell a person to.
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      return this.upload(item, tries + 1);
    }
    if (status === 201) this.uploaded(item, body);
    else if (status === 413) this.fail(item, body.error?.message || interpolate(gettext("“%(name)s” is too large."), { name: item.name }, true));
    else if (status === 0) this.fail(item, interpolate(gettext("“%(name)s” could not be uploaded: the connection failed."), { name: item.name }, true));
    else this.fail(item, body.error?.message || interpolate(gettext("“%(name)s” could not be uploaded."), { name: item.name }, true));
  }

  // One POST of the file, its progress on the chip: {status, body}, or null if aborted.
  send(item, conversationId) {
    const form = new FormData();
    form.append("file", item.file, item.name);
    const request = new XMLHttpRequest();
    item.upload = request;
    const progress = item.element.querySelector("progress");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
    });
    return new Promise((resolve) => {
      request.addEventListener("load", () => {
        let body = {};
        try {
          body = JSON.parse(request.responseText);
        } catch {
          /* not JSON: a proxy's page */
        }
        resolve({ status: request.status, body });
      });
      request.addEventListener("error", () => resolve({ status: 0, body: {} }));
      request.addEventListener("abort", () => resolve(null));
      request.open("POST", this.config.url("attachments", conversationId));
      request.setRequestHeader("X-CSRFToken", csrfToken());
      request.setRequestHeader("Accept", "application/json");
      request.send(form);
    });
  }

  uploaded(item, data) {
    if (!this.items.includes(item)) {
      this.forget(data); // removed while it was uploading
      return;
    }
    item.state = "done";
    item.data = data;
    item.kind = data.kind;
    item.element.classList.remove("uploading");
    item.element.dataset.id = data.id;
    // The name it is kept under: an image re-encoded is named by its format (a.png → a.jpg).
    item.name = data.name;
    item.element.querySelector(".chip-name").textContent = data.name;
    item.element.querySelector(".chip-remove").setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name: data.name }, true));
    item.element.querySelector(".chip-size").textContent = formatSize(data.size);
    item.element.querySelector("progress")?.remove();
    this.update();
  }

  fail(item, message) {
    this.problem(message);
    this.drop(item);
  }

  problem(message) {
    this.problems.push(message);
    this.showError(this.problems.join(" "));
  }

  // The files' sentences go once the person moves on (another file, a send).
  clearProblems() {
    if (this.problems.length) this.showError("");
    this.problems = [];
  }

  drop(item) {
    this.items = this.items.filter((other) => other !== item);
    item.element.remove();
    const thumb = item.element.querySelector("img");
    if (thumb?.src.startsWith("blob:")) URL.revokeObjectURL(thumb.src);
    this.update();
  }

  // The ✕ of a chip: an upload in flight stops; an uploaded file is deleted. Focus goes
  // to the next chip's ✕, else the message box.
  remove(item, focusAfter) {
    const next = this.items[this.items.indexOf(item) + 1] || this.items[this.items.indexOf(item) - 1];
    item.upload?.abort();
    if (item.state === "done") this.forget(item.data);
    this.drop(item);
    (next?.element.querySelector(".chip-remove") || focusAfter)?.focus({ preventScroll: true });
  }

  forget(data) {
    fetch(`${data.url}remove/`, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    }).catch(() => {}); // what is left unsent is cleaned up by the server later
  }

  // The uploaded files go with a message: the tray empties; putBack() restores them.
  take() {
    const taken = this.items.filter((item) => item.state === "done").map((item) => item.data);
    for (const item of this.items) item.element.remove();
    this.items = [];
    this.clearProblems();
    this.update();
    return taken;
  }

  putBack(files) {
    for (const data of files) {
      if (this.items.some((item) => item.data?.id === data.id)) continue;
      const item = { name: data.name, kind: data.kind, state: "uploading" };
      item.element = this.chip(item, data.kind === "image" ? data.preview_url || data.url : null);
      this.items.push(item);
      this.uploaded(item, data);
    }
  }

  // Where the tray is kept in this tab (with the draft of the same conversation): the
  // first call puts back what was kept there; a later one moves it.
  keepIn(key) {
    const moving = this.storageKey !== null;
    if (moving) {
      try {
        sessionStorage.removeItem(this.storageKey);
      } catch {
        /* storage disabled */
      }
    }
    this.storageKey = key;
    if (moving) this.save();
    else this.putBack(this.stored());
  }

  stored() {
    try {
      return JSON.parse(sessionStorage.getItem(this.storageKey) || "[]");
    } catch {
      return [];
    }
  }

  save() {
    const files = this.items.filter((item) => item.state === "done").map((item) => item.data);
    try {
      if (files.length) sessionStorage.setItem(this.storageKey, JSON.stringify(files));
      else sessionStorage.removeItem(this.storageKey);
    } catch {
      /* storage disabled: the tray lives only in the page */
    }
  }

  chip(item, thumbnail) {
    const chip = document.createElement("li");
    chip.className = "chip uploading";
    chip.dataset.kind = item.kind;
    if (thumbnail) {
      const image = document.createElement("img");
      image.className = "thumb";
      image.src = thumbnail;
      image.alt = "";
      chip.append(image);
    } else {
      chip.append(fileIcon());
    }
    const text = document.createElement("span");
    text.className = "chip-text";
    const name = document.createElement("span");
    name.className = "chip-name";
    name.textContent = item.name;
    const size = document.createElement("span");
    size.className = "chip-size";
    // Each reads in its own direction: "5.1 KB" and "report.pdf" stay so on a right-to-left
    // page; a size in Arabic words reads right to left.
    name.dir = size.dir = "auto";
    size.textContent = item.file ? formatSize(item.file.size) : "";
    text.append(name, size);
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", interpolate(gettext("Uploading %(name)s"), { name: item.name }, true));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name: item.name }, true));
    remove.textContent = "✕";
    remove.addEventListener("click", () => this.remove(item, this.tray.closest("form")?.querySelector("textarea")));
    chip.append(text, progress, remove);
    this.tray.append(chip);
    return chip;
  }

  update() {
    const count = this.items.length;
    this.tray.hidden = count === 0;
    // On a phone the tray is one row that scrolls sideways: how many files it holds is
    // said at its start (CSS), as most of them are out of view.
    if (count > 1) this.tray.dataset.count = interpolate(ngettext("%(count)s file", "%(count)s files", count), { count }, true);
    else delete this.tray.dataset.count;
    if (this.storageKey) this.save();
    if (!this.uploading()) {
      for (const resolve of this.waiting.splice(0)) resolve();
    }
    this.changed();
  }
}
