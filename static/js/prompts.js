// Saved prompts in the composer: typing `/` (at the start or after a space) and part of a
// name lists the person's prompts that match; ↑/↓ choose, Enter or Tab puts the prompt in
// place of what was typed, Escape closes. The prompts come with the page (/settings/).

export class PromptPicker {
  constructor(composer, prompts) {
    this.composer = composer;
    this.prompts = prompts;
    this.area = composer.prompt;
    this.menu = document.createElement("ul");
    this.menu.id = "prompt-menu";
    this.menu.className = "prompt-menu";
    this.menu.setAttribute("role", "listbox");
    this.menu.setAttribute("aria-label", gettext("Saved prompts"));
    this.menu.hidden = true;
    composer.form.querySelector(".composer-box").before(this.menu);
    this.area.setAttribute("aria-autocomplete", "list");
    this.area.setAttribute("aria-controls", this.menu.id);
    this.matches = [];
    this.active = 0;
    this.area.addEventListener("input", () => this.refresh());
    this.area.addEventListener("blur", () => this.close());
    // Before the composer's own keys (Enter sends): captured on the way down.
    composer.form.addEventListener("keydown", (event) => this.key(event), true);
    this.menu.addEventListener("mousedown", (event) => {
      const item = event.target.closest("[role=option]");
      if (!item) return;
      event.preventDefault(); // the text area keeps the focus
      this.choose(Number(item.dataset.index));
    });
  }

  // The `/word` just before the caret, if one is being typed.
  typed() {
    const before = this.area.value.slice(0, this.area.selectionStart);
    const match = /(?:^|\s)\/([^\s/]*)$/.exec(before);
    return match ? { query: match[1], start: before.length - match[1].length - 1 } : null;
  }

  refresh() {
    const typed = this.prompts.length ? this.typed() : null;
    if (!typed) return this.close();
    const query = typed.query.toLowerCase();
    // Names that start with what was typed first, then those that hold it.
    const starts = this.prompts.filter((p) => p.name.toLowerCase().startsWith(query));
    const holds = this.prompts.filter((p) => !starts.includes(p) && p.name.toLowerCase().includes(query));
    this.matches = [...starts, ...holds].slice(0, 8);
    if (!this.matches.length) return this.close();
    this.active = 0;
    this.menu.replaceChildren(
      ...this.matches.map((prompt, index) => {
        const item = document.createElement("li");
        item.id = `prompt-option-${index}`;
        item.setAttribute("role", "option");
        item.dataset.index = String(index);
        const name = document.createElement("strong");
        name.textContent = `/${prompt.name}`;
        const text = document.createElement("span");
        text.textContent = prompt.text.length > 80 ? `${prompt.text.slice(0, 79)}…` : prompt.text;
        item.append(name, " ", text);
        return item;
      }),
    );
    this.menu.hidden = false;
    this.highlight();
  }

  highlight() {
    this.menu.querySelectorAll("[role=option]").forEach((item, index) => {
      item.setAttribute("aria-selected", String(index === this.active));
    });
    this.area.setAttribute("aria-activedescendant", `prompt-option-${this.active}`);
    this.menu.children[this.active]?.scrollIntoView({ block: "nearest" });
  }

  close() {
    this.menu.hidden = true;
    this.matches = [];
    this.area.removeAttribute("aria-activedescendant");
  }

  key(event) {
    if (this.menu.hidden || event.target !== this.area || event.isComposing) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      this.active = (this.active + moves[event.key] + this.matches.length) % this.matches.length;
      this.highlight();
    } else if (event.key === "Enter" || event.key === "Tab") {
      this.choose(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  // The prompt takes the place of `/word`; the caret goes after it.
  choose(index) {
    const prompt = this.matches[index];
    const typed = this.typed();
    if (!prompt || !typed) return this.close();
    const value = this.area.value;
    const end = this.area.selectionStart;
    this.area.value = value.slice(0, typed.start) + prompt.text + value.slice(end);
    const caret = typed.start + prompt.text.length;
    this.area.setSelectionRange(caret, caret);
    this.close();
    this.area.dispatchEvent(new Event("input", { bubbles: true })); // the draft is kept
  }
}
