// The sidebar: the person's conversations (pinned first, then their folders, then the rest
// by day), each with its own menu (rename, pin, move to a folder, archive, share, export,
// delete), each folder with its own (rename, delete), more of them on demand, and the
// theme switch. On a phone it is a drawer behind the ☰ button.

import { ask, openMenu, stepsSettled } from "./dialog.js";
import { post } from "./http.js";

// A title as Rename offers it: an automatic title cut short (conversations/models.py
// _title_from) without its "…", which the person would otherwise have to delete first.
export function titleToEdit(title) {
  return title.endsWith("…") ? title.slice(0, -1).trimEnd() : title;
}

// Goes to `url`. From the phone's open drawer, the new page takes the drawer's step of
// history (see Sidebar.drawer), so Back from it comes to the page the drawer was opened on.
// From an open dialog (search), likewise; after a dialog just closed, once its step is gone.
export function leave(url) {
  stepsSettled().then(() => {
    if (history.state?.drawer || history.state?.modal) location.replace(url);
    else location.href = url;
  });
}

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
    this.stepped = false; // the open drawer's step of history is there
    this.leaving = Promise.resolve(); // the step of the drawer closed last is gone
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("button.item-menu");
      if (button) this.itemMenu(button);
      const folder = event.target.closest("button.folder-menu");
      if (folder) this.folderMenu(folder);
    });
    this.menuButton.addEventListener("click", () => this.drawer(true));
    document.getElementById("drawer-close").addEventListener("click", () => this.drawer(false));
    this.backdrop.addEventListener("click", () => this.drawer(false));
    document.addEventListener("keydown", (event) => {
      const open = document.body.classList.contains("drawer-open");
      if (event.key === "Escape" && open && !event.target.closest(".popup-menu, dialog")) {
        event.preventDefault(); // it closes the list, and does nothing else (a reply goes on)
        this.drawer(false);
      }
    });
    // The browser's Back (a phone's back gesture) closes the open drawer.
    window.addEventListener("popstate", () => {
      if (!this.stepped || history.state?.drawer) return; // (Back from a dialog over it)
      this.stepped = false;
      if (document.body.classList.contains("drawer-open")) this.drawer(false);
    });
    // A link in it: the page it opens takes the drawer's step (leave()).
    this.element.addEventListener("click", (event) => {
      const link = event.target.closest("a[href]");
      if (!link || event.defaultPrevented || !history.state?.drawer || link.target || link.hasAttribute("download")) return;
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      if (new URL(link.href).origin !== location.origin || link.getAttribute("href").startsWith("#")) return;
      event.preventDefault();
      leave(link.href);
    });
    // A phone's screen made wide (a tablet's turned): the drawer is a sidebar again, the page
    // reachable. (A phone is as app.css says.)
    matchMedia("(max-width: 700px), (pointer: coarse) and (max-height: 500px)").addEventListener("change", (event) => {
      if (!event.matches && document.body.classList.contains("drawer-open")) this.drawer(false);
    });
    // A folder folded stays folded, on every page (kept in this browser).
    this.list.addEventListener(
      "toggle",
      (event) => {
        const folder = event.target.closest?.("details.folder");
        if (!folder) return;
        const key = `folder-closed:${folder.dataset.folder}`;
        if (folder.open) localStorage.removeItem(key);
        else localStorage.setItem(key, "1");
      },
      true,
    );
    this.restoreFolders();
    this.setUpLoadMore();
    setUpTheme();
  }

  // --- The phone's drawer ------------------------------------------------------------------
  // The drawer takes a step of history while it is open, for Back to close it: taken once
  // the step of a drawer closed just before has gone (that Back would close this one), and
  // gone with it when it is closed otherwise (unless a page has taken it: leave()).
  drawer(open) {
    const was = document.body.classList.contains("drawer-open");
    if (open && !was) {
      this.leaving.then(() => {
        if (!document.body.classList.contains("drawer-open") || this.stepped) return;
        history.pushState({ drawer: true }, "");
        this.stepped = true;
      });
    } else if (!open && this.stepped) {
      this.stepped = false;
      if (history.state?.drawer) {
        this.leaving = new Promise((gone) => window.addEventListener("popstate", gone, { once: true }));
        history.back();
      }
    }
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
    link.dir = "auto"; // an Arabic title is cut at its own end
    link.textContent = link.title = title; // the whole title, where the list cuts it
    if (current) link.setAttribute("aria-current", "page");
    const menu = document.createElement("button");
    menu.type = "button";
    menu.className = "item-menu";
    menu.setAttribute("aria-haspopup", "menu");
    menu.setAttribute("aria-label", interpolate(gettext("Actions for “%(title)s”"), { title }, true));
    menu.textContent = "⋯";
    li.append(link, menu);
    return li;
  }

  // The list's "Today", made above the other days when there is none.
  today() {
    const first = this.list.querySelector("h2[data-day]");
    if (first?.textContent === gettext("Today")) return first.nextElementSibling;
    const heading = document.createElement("h2");
    heading.className = "group";
    heading.dataset.day = "";
    heading.textContent = gettext("Today");
    const group = document.createElement("ul");
    group.dataset.group = "day";
    const after = first || this.list.querySelector("#load-more, .archived-link");
    if (after) after.before(heading, group);
    else this.list.append(heading, group);
    return group;
  }

  // A conversation just made goes to the top of "Today" at once.
  add(id, title) {
    if (this.item(id)) return;
    this.list.querySelector(":scope > .empty")?.remove();
    for (const link of this.list.querySelectorAll('a[aria-current="page"]')) link.removeAttribute("aria-current");
    this.today().prepend(this.makeItem({ id, title, updated: new Date().toISOString(), current: true }));
  }

  // A conversation written in goes to the top of "Today", where the server lists it from
  // now on; a pinned one, or one in a folder, keeps its place there.
  bump(id) {
    const item = this.item(id);
    const group = item?.parentElement;
    if (group?.dataset.group !== "day") return;
    item.dataset.updated = new Date().toISOString();
    const today = this.today();
    if (today.firstElementChild === item) return;
    today.prepend(item);
    if (!group.children.length) {
      group.previousElementSibling?.remove(); // its day's heading
      group.remove();
    }
  }

  retitle(id, title) {
    const item = this.item(id);
    if (!item) return;
    const link = item.querySelector("a");
    link.textContent = link.title = title;
    item.querySelector(".item-menu").setAttribute("aria-label", interpolate(gettext("Actions for “%(title)s”"), { title }, true));
  }

  // The list as the server made it after a change (pinned, moved, archived, a folder's).
  restoreFolders() {
    for (const folder of this.list.querySelectorAll("details.folder")) {
      if (localStorage.getItem(`folder-closed:${folder.dataset.folder}`)) folder.open = false;
    }
  }

  // `refocus`: the change came from the list's own menu, whose button the new list replaced.
  // Focus goes back to the item's menu, or to its neighbour's if the item left the list.
  replaceList(html, focusId = null, refocus = true) {
    // (Not one in a closed folder: it cannot take the focus.)
    const items = [...this.list.querySelectorAll("li[data-id]")].filter((li) => li.dataset.id === focusId || li.getClientRects().length);
    const at = items.findIndex((li) => li.dataset.id === focusId);
    const near = at < 0 ? null : (items[at + 1] || items[at - 1])?.dataset.id;
    this.list.innerHTML = html;
    this.restoreFolders();
    this.setUpLoadMore();
    if (!refocus) return;
    const target = (focusId && this.item(focusId)) || (near && this.item(near));
    (target?.querySelector(".item-menu") || document.getElementById("search-q")).focus();
  }

  folderNames() {
    return [...this.list.querySelectorAll("details.folder .folder-name")].map((e) => e.textContent);
  }

  // --- An item's menu ------------------------------------------------------------------------
  itemMenu(button) {
    const li = button.closest("li");
    const id = li.dataset.id;
    const title = () => this.item(id)?.querySelector("a").textContent || "";
    const pinned = li.hasAttribute("data-pinned");
    openMenu(button, [
      { label: gettext("Rename"), action: () => this.rename(id, title(), button) },
      { label: pinned ? gettext("Unpin") : gettext("Pin"), action: () => this.organise(id, { pinned: pinned ? "false" : "true" }) },
      { label: gettext("Move to folder…"), action: () => this.move(id, this.folderOf(id), button) },
      { label: gettext("Archive"), action: () => this.organise(id, { archived: "true" }) },
      { label: gettext("Share"), action: () => this.share(id, button) },
      { label: gettext("Export as Markdown"), action: () => (location.href = this.config.url("export_md", id)) },
      { label: gettext("Export as JSON"), action: () => (location.href = this.config.url("export_json", id)) },
      { label: gettext("Delete"), danger: true, action: () => this.delete(id, title(), button) },
    ]);
  }

  async organise(id, fields, { fromList = true } = {}) {
    try {
      const body = await post(this.config.url("organise", id), { ...fields, current: this.current() || "" });
      // The conversation on screen, archived: its page shows it is, with Unarchive.
      if (body.archived && id === this.current()) location.reload();
      this.replaceList(body.sidebar, id, fromList);
      document.dispatchEvent(new CustomEvent("organised", { detail: body }));
    } catch (error) {
      this.showError(error.message);
    }
  }

  // The name of the folder a listed conversation is in ("" for none, null if not listed).
  folderOf(id) {
    const item = this.item(id);
    if (!item) return null;
    const folder = item.dataset.folder;
    return folder ? this.list.querySelector(`details[data-folder="${CSS.escape(folder)}"] .folder-name`)?.textContent || "" : "";
  }

  async move(id, current, button, options) {
    const name = await ask({
      title: gettext("Move to folder"),
      text: gettext("Name a folder you have, or a new one. Leave it empty to take the conversation out of its folder."),
      input: { label: gettext("Folder"), value: current, maxLength: 80, suggestions: this.folderNames() },
      confirm: gettext("Move"),
      fallback: button,
    });
    if (name === null) return;
    await this.organise(id, { folder: name.trim() }, options);
  }

  folderMenu(button) {
    const details = button.closest("details.folder");
    const id = details.dataset.folder;
    const name = details.querySelector(".folder-name").textContent;
    openMenu(button, [
      { label: gettext("Rename folder"), action: () => this.renameFolder(id, name, button) },
      { label: gettext("Delete folder"), danger: true, action: () => this.deleteFolder(id, name, button) },
    ]);
  }

  async renameFolder(id, name, button) {
    const value = await ask({
      title: gettext("Rename folder"),
      input: { label: gettext("Name"), value: name, maxLength: 80 },
      confirm: gettext("Rename"),
      fallback: button,
    });
    if (value === null || !value.trim()) return;
    await this.folderChange("folder_rename", id, { name: value });
  }

  async deleteFolder(id, name, button) {
    const yes = await ask({
      title: gettext("Delete this folder?"),
      text: interpolate(gettext("The folder “%(name)s” goes; its conversations stay in your list."), { name }, true),
      confirm: gettext("Delete folder"),
      danger: true,
      fallback: button,
    });
    if (yes) await this.folderChange("folder_delete", id);
  }

  async folderChange(url, id, fields = {}) {
    try {
      const body = await post(this.config.urls[url].replace("{id}", encodeURIComponent(id)), {
        ...fields,
        current: this.current() || "",
      });
      this.replaceList(body.sidebar);
    } catch (error) {
      this.showError(error.message);
    }
  }

  async rename(id, title, button) {
    const offered = titleToEdit(title);
    const value = await ask({
      title: gettext("Rename conversation"),
      input: { label: gettext("Title"), value: offered, maxLength: 200 },
      confirm: gettext("Rename"),
      fallback: button,
    });
    if (value === null || !value.trim() || value.trim() === offered) return;
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
      title: gettext("Share link"),
      text: gettext("Anyone with this link can read this conversation up to now. It is copied."),
      input: { label: gettext("Link"), value: url, readOnly: true },
      fallback: button,
    });
  }

  async delete(id, title, button) {
    const yes = await ask({
      title: gettext("Delete this conversation?"),
      text: interpolate(gettext("“%(title)s” will be gone for good, with its shared links."), { title }, true),
      confirm: gettext("Delete"),
      danger: true,
      fallback: button,
    });
    if (!yes) return;
    let body;
    try {
      body = await post(this.config.url("delete", id), { current: this.current() || "" });
    } catch (error) {
      this.showError(error.message);
      return;
    }
    if (id === this.current()) {
      leave(this.config.urls.home);
      return;
    }
    // The list as it is now: a folder's count, and the next of its conversations if it had
    // more than it showed.
    this.replaceList(body.sidebar, id);
  }

  // --- More -------------------------------------------------------------------------------
  setUpLoadMore() {
    const button = document.getElementById("load-more");
    if (!button) return;
    button.addEventListener("click", async () => {
      const items = this.list.querySelectorAll('ul[data-group="day"] li[data-updated]');
      const before = items[items.length - 1].dataset.updated;
      const response = await fetch(`${this.list.dataset.moreUrl}?before=${encodeURIComponent(before)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      const page = await response.json();
      for (const group of page.groups) {
        const headings = [...this.list.querySelectorAll("h2[data-day]")];
        let ul;
        if (headings.length && headings[headings.length - 1].textContent === group.label) {
          ul = headings[headings.length - 1].nextElementSibling;
        } else {
          const heading = document.createElement("h2");
          heading.className = "group";
          heading.dataset.day = "";
          heading.textContent = group.label;
          ul = document.createElement("ul");
          ul.dataset.group = "day";
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
    const root = document.documentElement;
    const names = { light: gettext("light"), dark: gettext("dark") };
    // Following the system, the palette it gives now is said too: "system (dark)".
    const name = root.dataset.theme
      ? names[root.dataset.theme]
      : interpolate(gettext("system (%(scheme)s)"), { scheme: names[root.dataset.scheme] }, true);
    button.textContent = interpolate(gettext("Theme: %(name)s"), { name }, true);
    button.setAttribute("aria-label", interpolate(gettext("Theme: %(name)s. Change theme"), { name }, true));
  };
  button.addEventListener("click", () => {
    // Three choices, in an order where the first press always changes the palette: from
    // the system's to the other palette; from a choice against the system to the system's
    // palette, chosen (kept when the system changes, say at night); from there back to
    // following the system.
    const root = document.documentElement;
    const system = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    const chosen = root.dataset.theme;
    const next = !chosen ? (system === "dark" ? "light" : "dark") : chosen !== system ? system : "system";
    if (next === "system") localStorage.removeItem("theme");
    else localStorage.setItem("theme", next);
    window.webchatApplyTheme(); // theme.js: the choice and the palette in force
    show();
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", show);
  show();
}
