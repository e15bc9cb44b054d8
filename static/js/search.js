// Search as you type, in a dialog opened with Ctrl+K (or by typing in the sidebar's field):
// the person's conversations whose title or messages hold the words, with the words shown
// in context, picked with the arrow keys and Enter.

import { stepFor, stepsSettled } from "./dialog.js";
import { leave } from "./sidebar.js";

const WAIT = 150; // ms of quiet typing before asking
const DAYS = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "medium" });

export class SearchDialog {
  constructor(url) {
    this.url = url;
    this.dialog = document.getElementById("search-dialog");
    this.input = document.getElementById("search-dialog-q");
    this.results = document.getElementById("search-results");
    this.all = document.getElementById("search-all");
    this.timer = null;
    this.asking = null;
    this.selected = -1;
    this.shownFor = ""; // the words of the results on screen
    this.entered = null; // words whose Enter waits for their results
    this.input.addEventListener("input", () => this.typed());
    this.input.addEventListener("keydown", (event) => this.key(event));
    this.results.addEventListener("click", (event) => {
      const option = event.target.closest("li[data-url]");
      if (option) this.go(option.dataset.url);
    });
    this.dialog.addEventListener("close", () => {
      if (this.dialog.open) return; // opened again before this event came
      this.entered = null; // an Enter waiting for its results goes nowhere once closed
      // Back to what had the focus; else out of the closed dialog, for the page's keys
      // (Ctrl+K again) to be heard at once.
      if (this.opener?.isConnected && this.opener !== document.body && this.opener.checkVisibility()) this.opener.focus();
      else this.input.blur();
    });
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.dialog.close(); // a click on the backdrop
    });
  }

  open(text = "") {
    if (this.dialog.open) return;
    this.opener = document.activeElement;
    stepFor(this.dialog); // Back closes it
    this.dialog.showModal();
    this.input.value = text;
    this.input.focus();
    this.typed();
  }

  typed() {
    clearTimeout(this.timer);
    this.entered = null;
    const words = this.input.value.trim();
    this.all.href = `${this.url}?q=${encodeURIComponent(words)}`;
    if (!words) {
      this.show([], "");
      return;
    }
    this.timer = setTimeout(() => this.ask(words), WAIT);
  }

  async ask(words) {
    this.asking?.abort();
    this.asking = new AbortController();
    let body;
    try {
      const response = await fetch(`${this.url}?q=${encodeURIComponent(words)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: this.asking.signal,
      });
      if (!response.ok) {
        const answer = await response.json().catch(() => ({}));
        this.message(answer.error?.message || gettext("Search did not work. Please try again."));
        return;
      }
      body = await response.json();
    } catch (error) {
      if (error.name !== "AbortError") this.message(gettext("Search did not work. Please try again."));
      return;
    }
    this.show(body.results, words);
  }

  message(text) {
    this.results.replaceChildren();
    const item = document.createElement("li");
    item.className = "empty";
    item.textContent = text;
    this.results.append(item);
  }

  show(results, words) {
    this.shownFor = words;
    this.results.replaceChildren();
    this.selected = -1;
    this.input.removeAttribute("aria-activedescendant");
    if (words && !results.length) this.message(interpolate(gettext("Nothing matches “%(query)s”."), { query: words }, true));
    results.forEach((result, index) => {
      const item = document.createElement("li");
      item.id = `search-result-${index}`;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.dataset.url = result.url;
      const title = document.createElement("span");
      title.className = "result-title";
      title.dir = "auto"; // each title and snippet reads in its own direction
      highlight(title, result.title, words);
      // Its day beside it, as the search page says it: results of one title told apart.
      const day = document.createElement("span");
      day.className = "result-date";
      day.textContent = DAYS.format(new Date(result.updated));
      const head = document.createElement("span");
      head.className = "result-head";
      head.append(title, day);
      item.append(head);
      if (result.archived) {
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = gettext("Archived");
        title.append(" ", tag);
      }
      if (result.snippet) {
        const snippet = document.createElement("span");
        snippet.className = "snippet";
        snippet.dir = "auto";
        highlight(snippet, result.snippet, words);
        item.append(snippet);
      }
      this.results.append(item);
    });
    if (results.length) this.select(0);
    if (this.entered === words) {
      this.entered = null;
      if (results.length) this.go(results[0].url);
    }
  }

  select(index) {
    const options = [...this.results.querySelectorAll("li[role=option]")];
    if (!options.length) return;
    this.selected = (index + options.length) % options.length;
    options.forEach((option, at) => option.setAttribute("aria-selected", String(at === this.selected)));
    const chosen = options[this.selected];
    this.input.setAttribute("aria-activedescendant", chosen.id);
    chosen.scrollIntoView({ block: "nearest" });
  }

  // A result's conversation, at the message found (`#m-<id>`): if it is the one open,
  // the page goes there without a reload (chat.js follows the address's hash).
  async go(url) {
    this.entered = null; // a result chosen: an Enter still waiting no longer counts
    const target = new URL(url, location.href);
    if (target.pathname === location.pathname && target.hash) {
      this.dialog.close();
      await stepsSettled(); // the page's own step of history, once the dialog's has gone
      history.replaceState(history.state, "", location.pathname); // the same hash is then a change
    }
    leave(target.href);
  }

  key(event) {
    if (event.key === "ArrowDown") this.select(this.selected + 1);
    else if (event.key === "ArrowUp") this.select(this.selected - 1);
    // A search field's own Escape would only clear it: here it closes the dialog.
    else if (event.key === "Escape") this.dialog.close();
    else if (event.key === "Enter") {
      const words = this.input.value.trim();
      const chosen = this.results.querySelectorAll("li[role=option]")[this.selected];
      if (words && words !== this.shownFor) {
        // The list on screen is an earlier search's: Enter takes the first result of
        // these words, once they come (asked for now, without the typing's wait).
        this.entered = words;
        clearTimeout(this.timer);
        this.ask(words);
      } else if (chosen) this.go(chosen.dataset.url);
      else if (words) leave(this.all.href);
    } else return;
    event.preventDefault();
  }
}

// `text` into `element`, each occurrence of `words` in any case in a <mark> (text nodes
// only), as written (its lowercase may be longer: İ).
function highlight(element, text, words) {
  const caseless = new RegExp(words.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "giu");
  let at = 0;
  const lower = words.toLowerCase();
  for (const found of words ? text.matchAll(caseless) : []) {
    // Only what the server counts as the words (its lowercase is theirs): the expression's
    // own folding would also take "ſ" for "s".
    if (found[0].toLowerCase() !== lower) continue;
    element.append(text.slice(at, found.index));
    const mark = document.createElement("mark");
    mark.textContent = found[0];
    element.append(mark);
    at = found.index + found[0].length;
  }
  element.append(text.slice(at));
}
