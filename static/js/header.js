// The conversation's header: its title, Rename, Export, Delete and Share. Where they do not
// fit beside the title (a phone, a narrow window) the actions fold behind one "⋯" button,
// with Pin, Move to folder and Archive too (on a phone the list's own menus are a drawer
// away); the ☰ button opens the conversation list.

import { ask } from "./dialog.js";
import { post } from "./http.js";
import { titleToEdit } from "./sidebar.js";

export class Header {
  constructor(config, sidebar, showError) {
    this.config = config;
    this.sidebar = sidebar;
    this.showError = showError;
    this.id = null;
    this.element = document.getElementById("chat-header");
    this.title = document.getElementById("title");
    this.actions = document.getElementById("header-actions");
    this.actionsButton = document.getElementById("actions-button");
    this.shareButton = document.getElementById("share");
    this.renameForm = document.getElementById("rename-form");
    this.renameInput = document.getElementById("rename-input");
    this.renaming = false;
    document.getElementById("rename").addEventListener("click", () => this.startRename());
    this.renameInput.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.endRename();
      }
    });
    this.renameForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.rename();
    });
    // A tap or a click elsewhere keeps what was typed, as Enter does; Esc is the way out.
    // Leaving the window (another tab, another program) is neither: the field waits, and
    // has the focus back with the window.
    this.renameInput.addEventListener("blur", () => {
      if (this.renaming && document.hasFocus()) this.rename({ refocus: false });
    });
    document.getElementById("delete").addEventListener("click", () => this.delete());
    this.pinButton = document.getElementById("pin");
    this.archiveButton = document.getElementById("archive");
    this.pinButton.addEventListener("click", async () => {
      const pinned = this.pinButton.dataset.pinned === "true";
      await this.sidebar.organise(this.id, { pinned: String(!pinned) }, { fromList: false });
      this.actionsButton.focus(); // the fold closed behind the button pressed
    });
    // The folder it is in: as the list says, else as the page came (it may not be listed).
    this.moveButton = document.getElementById("move");
    this.moveButton.addEventListener("click", () => {
      const current = this.sidebar.folderOf(this.id) ?? this.moveButton.dataset.folder;
      this.sidebar.move(this.id, current, this.actionsButton, { fromList: false });
    });
    // Archived, the page reloads to say so (the sidebar's organise()).
    this.archiveButton.addEventListener("click", () => this.sidebar.organise(this.id, { archived: "true" }, { fromList: false }));
    // Pinned or not, from here or from the list's own menu.
    document.addEventListener("organised", ({ detail }) => {
      if (detail.id !== this.id) return;
      this.moveButton.dataset.folder = detail.folder;
      this.pinButton.dataset.pinned = String(detail.pinned);
      this.pinButton.textContent = detail.pinned ? gettext("Unpin") : gettext("Pin");
    });
    this.shareButton.addEventListener("click", () => this.share());
    document.getElementById("share-copy").addEventListener("click", () => this.copyLink());
    const panel = document.getElementById("share-panel");
    const closePanel = () => {
      panel.hidden = true;
      (this.shareButton.checkVisibility() ? this.shareButton : this.actionsButton).focus();
    };
    document.getElementById("share-close").addEventListener("click", closePanel);
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        closePanel();
      }
    });
    this.actionsButton.addEventListener("click", () => this.fold(!this.element.classList.contains("actions-open")));
    this.actions.addEventListener("click", (event) => {
      if (event.target.closest("button, a")) this.fold(false, false);
    });
    this.actions.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.element.classList.contains("actions-open")) {
        event.stopPropagation();
        this.fold(false);
      }
    });
  }

  // The fold-out of the header's actions (a phone, a narrow window): within the window's
  // height, scrolling inside when a phone turned sideways is shorter than its list.
  fold(open, refocus = true) {
    if (open) this.actions.style.maxHeight = `${innerHeight - this.element.getBoundingClientRect().bottom - 8}px`;
    this.element.classList.toggle("actions-open", open);
    this.actionsButton.setAttribute("aria-expanded", String(open));
    if (open) this.actions.querySelector("button:not([hidden]), a")?.focus();
    else if (refocus && getComputedStyle(this.actionsButton).display !== "none") this.actionsButton.focus();
  }

  // The conversation now exists (it may have just been made): its actions apply to it.
  show(conversationId) {
    this.id = conversationId;
    document.getElementById("export-md").href = this.config.url("export_md", conversationId);
    document.getElementById("export-json").href = this.config.url("export_json", conversationId);
    this.actions.hidden = false;
    this.actionsButton.hidden = false;
  }

  shareable(yes) {
    this.shareButton.hidden = !yes;
  }

  // Nothing to export before the first message.
  exportable(yes) {
    for (const id of ["export-md", "export-json"]) document.getElementById(id).hidden = !yes;
  }

  // Only a conversation of the list (not a temporary chat) is pinned or archived.
  listed(yes) {
    this.pinButton.hidden = this.archiveButton.hidden = this.moveButton.hidden = !yes;
  }

  isNew() {
    return this.title.textContent === gettext("New chat");
  }

  setTitle(name) {
    this.title.textContent = this.title.title = name; // whole as its tooltip, where it is cut
    document.title = `${name} · webchat`;
    this.sidebar.retitle(this.id, name);
  }

  startRename() {
    this.renaming = true;
    this.renameInput.value = titleToEdit(this.title.textContent);
    this.renameForm.hidden = false;
    this.title.hidden = true;
    this.renameInput.focus();
    this.renameInput.select();
  }

  // Focus goes back to the Rename button, unless the person has moved on elsewhere.
  endRename({ refocus = true } = {}) {
    this.renaming = false;
    this.renameForm.hidden = true;
    this.title.hidden = false;
    if (!refocus) return;
    document.getElementById("rename").focus({ preventScroll: true });
    if (!this.actions.checkVisibility()) this.actionsButton.focus();
  }

  async rename({ refocus = true } = {}) {
    const title = this.renameInput.value.trim();
    this.endRename({ refocus });
    const before = this.title.textContent;
    if (!title || title === titleToEdit(before)) return;
    this.setTitle(title); // at once; the server's answer is what stays
    try {
      const body = await post(this.config.url("rename", this.id), { title });
      this.setTitle(body.title);
    } catch (error) {
      this.setTitle(before);
      this.showError(error.message);
    }
  }

  async delete() {
    const yes = await ask({
      title: gettext("Delete this conversation?"),
      text: interpolate(gettext("“%(title)s” will be gone for good, with its shared links."), { title: this.title.textContent }, true),
      confirm: gettext("Delete"),
      danger: true,
      fallback: this.actionsButton.checkVisibility() ? this.actionsButton : document.getElementById("prompt"),
    });
    if (!yes) return;
    try {
      await post(this.config.url("delete", this.id), { current: this.id });
      this.deleted?.();
      location.href = this.config.urls.home;
    } catch (error) {
      this.showError(error.message);
    }
  }

  async share() {
    let body;
    try {
      body = await post(this.config.url("share", this.id));
    } catch (error) {
      this.showError(error.message);
      return;
    }
    document.getElementById("share-link").value = body.url;
    document.getElementById("share-panel").hidden = false;
    await this.copyLink();
    document.getElementById("share-copy").focus();
  }

  async copyLink() {
    const link = document.getElementById("share-link");
    const button = document.getElementById("share-copy");
    try {
      await navigator.clipboard.writeText(link.value);
      button.textContent = gettext("Copied");
    } catch {
      link.select(); // the person copies it themselves
    }
  }
}
