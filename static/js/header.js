// The conversation's header: its title (and its place in the sidebar), Rename, Export,
// Delete and Share.

import { post } from "./http.js";

export class Header {
  constructor(config, showError) {
    this.config = config;
    this.showError = showError;
    this.id = null;
    this.title = document.getElementById("title");
    this.actions = document.querySelector(".header-actions");
    this.shareButton = document.getElementById("share");
    this.renameForm = document.getElementById("rename-form");
    this.renameInput = document.getElementById("rename-input");
    document.getElementById("rename").addEventListener("click", () => this.startRename());
    this.renameInput.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.endRename();
    });
    this.renameForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.rename();
    });
    document.getElementById("delete").addEventListener("click", () => this.delete());
    this.shareButton.addEventListener("click", () => this.share());
    document.getElementById("share-copy").addEventListener("click", () => this.copyLink());
  }

  // The conversation now exists (it may have just been made): its actions apply to it.
  show(conversationId) {
    this.id = conversationId;
    document.getElementById("export-md").href = this.config.url("export_md", conversationId);
    document.getElementById("export-json").href = this.config.url("export_json", conversationId);
    this.actions.hidden = false;
  }

  shareable(yes) {
    this.shareButton.hidden = !yes;
  }

  isNew() {
    return this.title.textContent === "New chat";
  }

  // A new conversation gets its title (as the server makes it) and a place in the sidebar.
  name(firstMessage) {
    const href = this.config.url("conversation", this.id);
    if (document.querySelector(`.conversation-list a[href="${CSS.escape(href)}"]`)) return;
    const words = firstMessage.split(/\s+/).filter(Boolean).join(" ");
    const name = words.length <= 60 ? words : words.slice(0, 59).trimEnd() + "…";
    this.setTitle(name);
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = href;
    link.textContent = name;
    link.setAttribute("aria-current", "page");
    item.append(link);
    const list = document.querySelector(".conversation-list");
    list.querySelector(".empty")?.remove();
    let group = list.querySelector("h2.group")?.textContent === "Today" ? list.querySelector("ul") : null;
    if (!group) {
      const heading = document.createElement("h2");
      heading.className = "group";
      heading.textContent = "Today";
      group = document.createElement("ul");
      list.prepend(heading, group);
    }
    group.prepend(item);
  }

  setTitle(name) {
    this.title.textContent = name;
    document.title = `${name} · webchat`;
    const href = this.config.url("conversation", this.id);
    const link = document.querySelector(`.conversation-list a[href="${CSS.escape(href)}"]`);
    if (link) link.textContent = name;
  }

  startRename() {
    this.renameInput.value = this.title.textContent;
    this.renameForm.hidden = false;
    this.title.hidden = true;
    this.renameInput.focus();
    this.renameInput.select();
  }

  endRename() {
    this.renameForm.hidden = true;
    this.title.hidden = false;
  }

  async rename() {
    try {
      const body = await post(this.config.url("rename", this.id), { title: this.renameInput.value });
      this.setTitle(body.title);
    } catch (error) {
      this.showError(error.message);
    }
    this.endRename();
  }

  async delete() {
    if (!confirm("Delete this conversation? This cannot be undone.")) return;
    try {
      await post(this.config.url("delete", this.id));
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
  }

  async copyLink() {
    const link = document.getElementById("share-link");
    const button = document.getElementById("share-copy");
    try {
      await navigator.clipboard.writeText(link.value);
      button.textContent = "Copied";
    } catch {
      link.select(); // the person copies it themselves
    }
  }
}
