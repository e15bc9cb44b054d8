// The sidebar: the person's conversations, grouped by day, each with its own menu (rename,
// share, export, delete), more of them on demand, and the theme switch. On a phone it is
// a drawer behind the ☰ button.

import { ask, openMenu } from "./dialog.js";
import { post } from "./http.js";

const THEMES = ["system", "light", "dark"];

export class Sidebar {
  constructor(config, { current, onRenamed, showError }) {
    this.config = config;
    this.current = current; // () → the id of the conversation on screen
    this.onRenamed = onRenamed;
    this.showError = showError;
    this.element = document.getElementById("sidebar");
    this.list = document.getElementById("conversation-list");
    this.menuButton = document.getElementById("menu-button");
    this.backdrop = document.getElementById("backdrop");
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("button.item-menu");
      if (button) this.itemMenu(button);
    });
    this.menuButton.addEventListener("click", () => this.drawer(true));
    document.getElementById("drawer-close").addEventListener("click", () => this.drawer(false));
    this.backdrop.addEventListener("click", () => this.drawer(false));
    document.addEventListener("keydown", (event) => {
      const open = document.body.classList.contains("drawer-open");
      if (event.key === "Escape" && open && !event.target.closest(".popup-menu, dialog")) this.drawer(false);
    });
    // A phone turned to a wide screen: the drawer is a sidebar again, the page reachable.
    matchMedia("(min-width: 701px)").addEventListener("change", (event) => {
      if (event.matches && document.body.classList.contains("drawer-open")) this.drawer(false);
    });
    this.setUpLoadMore();
    setUpTheme();
  }

  // --- The phone's drawer ------------------------------------------------------------------
  drawer(open) {
    document.body.classList.toggle("drawer-open", open);
    this.backdrop.hidden = !open;
    this.menuButton.setAttribute("aria-expanded", String(open));
    // The page behind an open drawer cannot be reached, by pointer or by Tab.
    document.getElementById("chat").inert = open;
    if (open) (this.list.querySelector('a[aria-current="page"]') || this.element.querySelector("a")).focus();
    else this.menuButton.focus();
  }

  // --- Items ---------------------------------------------------------------------------------
  item(id) {
    return this.list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
  }

  makeItem({ id, title, updated, current = false }) {
    const li = document.createElement("li");
    li.dataset.id = id;
    if (updated) li.dataset.updated = updated;
    const link = document.createElement("a");
    link.href = this.config.url("conversation", id);
    link.textContent = title;
    if (current) link.setAttribute("aria-current", "page");
    const menu = document.createElement("button");
    menu.type = "button";
    menu.className = "item-menu";
    menu.setAttribute("aria-haspopup", "menu");
    menu.setAttribute("aria-label", `Actions for “${title}”`);
    menu.textContent = "⋯";
    li.append(link, menu);
    return li;
  }

  // A conversation just made goes to the top of "Today" at once.
  add(id, title) {
    if (this.item(id)) return;
    this.list.querySelector(".empty")?.remove();
    for (const link of this.list.querySelectorAll('a[aria-current="page"]')) link.removeAttribute("aria-current");
    const first = this.list.querySelector("h2.group");
    let group = first?.textContent === "Today" ? first.nextElementSibling : null;
    if (!group) {
      const heading = document.createElement("h2");
      heading.className = "group";
      heading.textContent = "Today";
      group = document.createElement("ul");
      this.list.prepend(heading, group);
    }
    group.prepend(this.makeItem({ id, title, updated: new Date().toISOString(), current: true }));
  }

  retitle(id, title) {
    const item = this.item(id);
    if (!item) return;
    item.querySelector("a").textContent = title;
    item.querySelector(".item-menu").setAttribute("aria-label", `Actions for “${title}”`);
  }

  remove(id) {
    const item = this.item(id);
    if (!item) return null;
    const next = item.nextElementSibling || item.previousElementSibling;
    const group = item.parentElement;
    item.remove();
    if (!group.children.length) {
      group.previousElementSibling?.remove();
      group.remove();
    }
    return next;
  }

  // --- An item's menu ------------------------------------------------------------------------
  itemMenu(button) {
    const id = button.closest("li").dataset.id;
    const title = () => this.item(id)?.querySelector("a").textContent || "";
    openMenu(button, [
      { label: "Rename", action: () => this.rename(id, title(), button) },
      { label: "Share", action: () => this.share(id, button) },
      { label: "Export as Markdown", action: () => (location.href = this.config.url("export_md", id)) },
      { label: "Export as JSON", action: () => (location.href = this.config.url("export_json", id)) },
      { label: "Delete", danger: true, action: () => this.delete(id, title(), button) },
    ]);
  }

  async rename(id, title, button) {
    const value = await ask({
      title: "Rename conversation",
      input: { label: "Title", value: title, maxLength: 200 },
      confirm: "Rename",
      fallback: button,
    });
    if (value === null || !value.trim()) return;
    try {
      const body = await post(this.config.url("rename", id), { title: value });
      this.retitle(id, body.title);
      if (id === this.current()) this.onRenamed(body.title);
    } catch (error) {
      this.showError(error.message);
    }
  }

  async share(id, button) {
    let body;
    try {
      body = await post(this.config.url("share", id));
    } catch (error) {
      this.showError(error.message);
      return;
    }
    const url = new URL(body.url, location.href).href;
    navigator.clipboard?.writeText(url).catch(() => {});
    await ask({
      title: "Share link",
      text: "Anyone with this link can read this conversation up to now. It is copied.",
      input: { label: "Link", value: url, readOnly: true },
      fallback: button,
    });
  }

  async delete(id, title, button) {
    const yes = await ask({
      title: "Delete this conversation?",
      text: `“${title}” is gone for good, with its shared links.`,
      confirm: "Delete",
      danger: true,
      fallback: button,
    });
    if (!yes) return;
    try {
      await post(this.config.url("delete", id));
    } catch (error) {
      this.showError(error.message);
      return;
    }
    if (id === this.current()) {
      location.href = this.config.urls.home;
      return;
    }
    const next = this.remove(id);
    (next?.querySelector("a") || document.getElementById("search-q")).focus();
  }

  // --- More -------------------------------------------------------------------------------
  setUpLoadMore() {
    const button = document.getElementById("load-more");
    if (!button) return;
    button.addEventListener("click", async () => {
      const items = this.list.querySelectorAll("li[data-updated]");
      const before = items[items.length - 1].dataset.updated;
      const response = await fetch(`${this.list.dataset.moreUrl}?before=${encodeURIComponent(before)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      const page = await response.json();
      for (const group of page.groups) {
        const headings = [...this.list.querySelectorAll("h2.group")];
        let ul;
        if (headings.length && headings[headings.length - 1].textContent === group.label) {
          ul = headings[headings.length - 1].nextElementSibling;
        } else {
          const heading = document.createElement("h2");
          heading.className = "group";
          heading.textContent = group.label;
          ul = document.createElement("ul");
          this.list.insertBefore(heading, button);
          this.list.insertBefore(ul, button);
        }
        for (const item of group.items) ul.append(this.makeItem(item));
      }
      if (!page.more) {
        const next = button.previousElementSibling?.querySelector("li:last-child a");
        button.remove();
        next?.focus();
      }
    });
  }
}

function setUpTheme() {
  const button = document.getElementById("theme");
  if (!button) return;
  const show = () => {
    const current = document.documentElement.dataset.theme || "system";
    button.textContent = `Theme: ${current}`;
    button.setAttribute("aria-label", `Theme: ${current}. Change theme`);
  };
  button.addEventListener("click", () => {
    const current = document.documentElement.dataset.theme || "system";
    const next = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length];
    if (next === "system") localStorage.removeItem("theme");
    else localStorage.setItem("theme", next);
    window.webchatApplyTheme(); // theme.js: the choice and the palette in force
    show();
  });
  show();
}
