// Files attached in the composer: picked (or photographed), pasted or dropped. Each is
// uploaded at once, its progress shown on its chip, and can be removed until the message
// goes; the server's ids of the uploaded ones go with the `send` frame.

import { csrfToken } from "./http.js";

export function formatSize(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(bytes < 1e4 ? 1 : 0)} KB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
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
const FILE_ICON = "M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5L13 3.5z";

export class Attachments {
  // `conversation()` answers the conversation's id, making it first if need be.
  constructor(tray, config, { conversation, showError, changed }) {
    this.tray = tray;
    this.config = config;
    this.conversation = conversation;
    this.showError = showError;
    this.changed = changed;
    this.items = []; // { file, name, kind, state: "uploading" | "done", upload, data, element }
  }

  get count() {
    return this.items.length;
  }

  uploading() {
    return this.items.some((item) => item.state === "uploading");
  }

  hasImages() {
    return this.items.some((item) => item.kind === "image");
  }

  // Files from the picker, the clipboard or a drop.
  add(files) {
    const room = this.config.attachments_per_message - this.items.length;
    const list = [...files];
    if (list.length > room) {
      this.showError(`A message can carry at most ${this.config.attachments_per_message} files.`);
    }
    for (const file of list.slice(0, Math.max(room, 0))) this.start(file);
  }

  start(file) {
    const item = {
      file,
      name: file.name || "pasted image",
      kind: file.type.startsWith("image/") ? "image" : "text",
      state: "uploading",
    };
    item.element = this.chip(item, file.type.startsWith("image/") ? URL.createObjectURL(file) : null);
    this.items.push(item);
    this.update();
    this.upload(item);
  }

  async upload(item) {
    let conversationId;
    try {
      conversationId = await this.conversation();
    } catch (failure) {
      this.fail(item, failure.message);
      return;
    }
    if (!this.items.includes(item)) return; // removed meanwhile
    const form = new FormData();
    form.append("file", item.file, item.name);
    const request = new XMLHttpRequest();
    item.upload = request;
    const progress = item.element.querySelector("progress");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
    });
    request.addEventListener("load", () => {
      let body = {};
      try {
        body = JSON.parse(request.responseText);
      } catch {
        /* not JSON: a proxy's page */
      }
      if (request.status === 201) this.uploaded(item, body);
      else if (request.status === 413) this.fail(item, body.error?.message || `“${item.name}” is too large.`);
      else this.fail(item, body.error?.message || `“${item.name}” could not be uploaded.`);
    });
    request.addEventListener("error", () => this.fail(item, `“${item.name}” could not be uploaded: the connection failed.`));
    request.open("POST", this.config.url("attachments", conversationId));
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.send(form);
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
    item.element.querySelector(".chip-size").textContent = formatSize(data.size);
    item.element.querySelector("progress").remove();
    this.update();
  }

  fail(item, message) {
    this.showError(message);
    this.drop(item);
  }

  drop(item) {
    this.items = this.items.filter((other) => other !== item);
    item.element.remove();
    const thumb = item.element.querySelector("img");
    if (thumb?.src.startsWith("blob:")) URL.revokeObjectURL(thumb.src);
    this.update();
  }

  // The ✕ of a chip: an upload in flight stops; an uploaded file is deleted.
  remove(item) {
    item.upload?.abort();
    if (item.state === "done") this.forget(item.data);
    this.drop(item);
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
    const taken = this.items.map((item) => item.data);
    for (const item of this.items) item.element.remove();
    this.items = [];
    this.update();
    return taken;
  }

  putBack(files) {
    for (const data of files) {
      const item = { name: data.name, kind: data.kind, state: "uploading" };
      item.element = this.chip(item, data.kind === "image" ? data.url : null);
      this.items.push(item);
      this.uploaded(item, data);
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
    size.textContent = item.file ? formatSize(item.file.size) : "";
    text.append(name, size);
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Uploading ${item.name}`);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.setAttribute("aria-label", `Remove ${item.name}`);
    remove.textContent = "✕";
    remove.addEventListener("click", () => this.remove(item));
    chip.append(text, progress, remove);
    this.tray.append(chip);
    return chip;
  }

  update() {
    this.tray.hidden = this.items.length === 0;
    this.changed();
  }
}
