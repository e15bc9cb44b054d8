// The sidebar: more conversations on demand, and the theme switch.

const THEMES = ["system", "light", "dark"];

export function setUpTheme() {
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

export function setUpLoadMore() {
  const list = document.getElementById("conversation-list");
  const button = document.getElementById("load-more");
  if (!list || !button) return;
  button.addEventListener("click", async () => {
    const items = list.querySelectorAll("li[data-updated]");
    const before = items[items.length - 1].dataset.updated;
    const response = await fetch(`${list.dataset.moreUrl}?before=${encodeURIComponent(before)}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) return;
    const page = await response.json();
    for (const group of page.groups) {
      const headings = [...list.querySelectorAll("h2.group")];
      let ul;
      if (headings.length && headings[headings.length - 1].textContent === group.label) {
        ul = headings[headings.length - 1].nextElementSibling;
      } else {
        const heading = document.createElement("h2");
        heading.className = "group";
        heading.textContent = group.label;
        ul = document.createElement("ul");
        list.insertBefore(heading, button);
        list.insertBefore(ul, button);
      }
      for (const item of group.items) {
        const li = document.createElement("li");
        li.dataset.updated = item.updated;
        const link = document.createElement("a");
        link.href = `/c/${item.id}/`;
        link.textContent = item.title;
        li.append(link);
        ul.append(li);
      }
    }
    if (!page.more) button.remove();
  });
}
