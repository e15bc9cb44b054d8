// The page's own dialogs and menus, in place of the browser's confirm() and prompt().
// A <dialog> opened with showModal() keeps focus inside it and closes on Esc; when it
// closes, focus goes back to what had it, or to `fallback` if that has left the page.

let counter = 0;

// Tab and Shift+Tab cycle inside an open modal dialog (the browser would let focus leave
// the page after its last control).
export function trapFocus(dialog) {
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const focusable = [...dialog.querySelectorAll("button, input, textarea, select, a[href], [tabindex]")].filter(
      (e) => !e.disabled && e.tabIndex >= 0 && e.checkVisibility(),
    );
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
}

// Ask the person something. Resolves to true (confirmed), the text typed (`input`), or
// null (cancelled).
export function ask({ title, text = "", confirm = gettext("OK"), danger = false, input = null, fallback = null }) {
  const opener = document.activeElement;
  const dialog = document.createElement("dialog");
  dialog.className = "dialog";
  const id = `dialog-${++counter}`;
  dialog.setAttribute("aria-labelledby", `${id}-title`);
  const heading = document.createElement("h2");
  heading.id = `${id}-title`;
  heading.textContent = title;
  const form = document.createElement("form");
  form.method = "dialog";
  form.append(heading);
  if (text) {
    const body = document.createElement("p");
    body.textContent = text;
    form.append(body);
  }
  let field = null;
  if (input) {
    const label = document.createElement("label");
    label.htmlFor = `${id}-input`;
    label.textContent = input.label;
    field = document.createElement(input.multiline ? "textarea" : "input");
    field.id = `${id}-input`;
    field.value = input.value || "";
    if (input.maxLength) field.maxLength = input.maxLength;
    if (input.readOnly) field.readOnly = true;
    form.append(label, field);
    if (input.suggestions?.length) {
      // Names to pick from as one types (the person's folders); any other name is taken too.
      const list = document.createElement("datalist");
      list.id = `${id}-suggestions`;
      for (const suggestion of input.suggestions) list.append(new Option(suggestion));
      field.setAttribute("list", list.id);
      form.append(list);
      // The first of them shown as well, to be picked with one press rather than recalled.
      // (Not submit buttons: Enter in the field would press the first.)
      const choices = document.createElement("div");
      choices.className = "choices";
      for (const suggestion of input.suggestions.slice(0, 12)) {
        const choice = document.createElement("button");
        choice.type = "button";
        choice.className = "secondary";
        choice.textContent = suggestion;
        choice.addEventListener("click", () => {
          field.value = suggestion;
          dialog.close("ok");
        });
        choices.append(choice);
      }
      form.append(choices);
    }
  }
  const buttons = document.createElement("div");
  buttons.className = "dialog-buttons";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary";
  cancel.textContent = input?.readOnly ? gettext("Close") : gettext("Cancel");
  buttons.append(cancel);
  if (!input?.readOnly) {
    const ok = document.createElement("button");
    ok.type = "submit";
    ok.value = "ok";
    ok.className = danger ? "primary danger" : "primary";
    ok.textContent = confirm;
    buttons.append(ok);
  }
  form.append(buttons);
  dialog.append(form);
  document.body.append(dialog);
  trapFocus(dialog);
  cancel.addEventListener("click", () => dialog.close(""));
  return new Promise((resolve) => {
    // The answer once the dialog's step of history has gone: what follows (a page left, a
    // form sent) is not undone by that step's Back.
    const stepped = stepFor(dialog);
    dialog.addEventListener("close", () => {
      const confirmed = dialog.returnValue === "ok";
      dialog.remove();
      const back = opener?.isConnected && opener !== document.body && opener.checkVisibility() ? opener : fallback;
      back?.focus();
      const answer = !confirmed ? null : field ? field.value : true;
      stepped.then(() => resolve(answer));
    });
    dialog.showModal();
    if (field) {
      field.focus();
      field.select?.();
    } else {
      // A dangerous action is not one Enter away: focus starts on Cancel.
      (danger ? cancel : buttons.lastElementChild).focus();
    }
  });
}

// A menu of `items` ({label, action, danger}) under `anchor`, under a `heading` that says
// what picking one does, when the anchor's text does not; arrows move, Enter picks, Esc or
// a click elsewhere closes it and focus returns to the anchor.
export function openMenu(anchor, items, heading = "") {
  const wasOpen = anchor.getAttribute("aria-expanded") === "true";
  closeMenus();
  if (wasOpen) return null; // a second click on the button closes its menu
  const menu = document.createElement("div");
  menu.className = "popup-menu";
  menu.setAttribute("role", "menu");
  const label = anchor.getAttribute("aria-label");
  if (label) menu.setAttribute("aria-label", label);
  if (heading) {
    const title = document.createElement("div");
    title.className = "menu-heading";
    title.setAttribute("aria-hidden", "true"); // the anchor's label names the menu
    title.textContent = heading;
    menu.append(title);
  }
  for (const item of items) {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "menuitem");
    button.className = item.danger ? "danger" : "";
    if (item.current) button.setAttribute("aria-current", "true");
    button.textContent = item.label;
    button.addEventListener("click", () => {
      close(false);
      item.action();
    });
    menu.append(button);
  }
  document.body.append(menu);
  const box = anchor.getBoundingClientRect();
  const width = menu.offsetWidth;
  const height = menu.offsetHeight;
  const left = Math.max(8, Math.min(box.right - width, window.innerWidth - width - 8));
  const below = box.bottom + 4 + height < window.innerHeight;
  menu.style.left = `${left}px`;
  menu.style.top = `${below ? box.bottom + 4 : Math.max(8, box.top - height - 4)}px`;
  anchor.setAttribute("aria-expanded", "true");
  const buttons = [...menu.querySelectorAll("button")];
  buttons[0]?.focus();

  function close(refocus = true) {
    menu.remove();
    anchor.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", outside, true);
    if (refocus && anchor.isConnected) anchor.focus();
  }
  function outside(event) {
    if (!menu.contains(event.target) && !anchor.contains(event.target)) close(false);
  }
  menu.addEventListener("keydown", (event) => {
    const at = buttons.indexOf(document.activeElement);
    if (event.key === "ArrowDown") buttons[(at + 1) % buttons.length].focus();
    else if (event.key === "ArrowUp") buttons[(at - 1 + buttons.length) % buttons.length].focus();
    else if (event.key === "Home") buttons[0].focus();
    else if (event.key === "End") buttons[buttons.length - 1].focus();
    else if (event.key === "Escape" || event.key === "Tab") close();
    else return;
    event.preventDefault();
    event.stopPropagation();
  });
  menu.close = close;
  setTimeout(() => document.addEventListener("pointerdown", outside, true));
  return menu;
}

export function closeMenus() {
  for (const menu of document.querySelectorAll(".popup-menu")) menu.close();
}

// An image shown whole over the page, with its name and a download link; a click on the
// backdrop, Esc or the browser's Back (a phone's back gesture) closes it. `tile`, the
// message's <img>, gives its preview, shown at once while the whole image comes, and the
// whole image's size: a long one (a scrolling screenshot) is shown across and scrolled.
export function viewImage(src, name, tile = null) {
  const dialog = document.createElement("dialog");
  dialog.className = "image-viewer";
  dialog.setAttribute("aria-label", name || gettext("Image"));
  const close = document.createElement("button");
  close.type = "button";
  close.className = "icon-button viewer-close";
  close.setAttribute("aria-label", gettext("Close"));
  close.textContent = "✕";
  const image = document.createElement("img");
  image.alt = name || "";
  const preview = tile?.currentSrc || tile?.src;
  if (preview && preview !== new URL(src, location.href).href) {
    image.src = preview;
    image.className = "preview";
    const whole = document.createElement("img");
    whole.alt = image.alt;
    whole.src = src;
    whole.decode().then(
      () => {
        whole.style.cssText = image.style.cssText;
        image.replaceWith(whole);
      },
      () => {}, // a broken image: the preview stays
    );
  } else {
    image.src = src;
  }
  const size = [Number(tile?.getAttribute("width")), Number(tile?.getAttribute("height"))];
  const refit = () => fit(dialog, dialog.querySelector("img"), ...size);
  const caption = document.createElement("p");
  caption.className = "viewer-caption";
  const title = document.createElement("span");
  title.textContent = name || "";
  const download = document.createElement("a");
  download.href = src;
  download.download = name || "";
  download.textContent = gettext("Download");
  caption.append(title, download);
  dialog.append(close, image, caption);
  document.body.append(dialog);
  refit();
  window.addEventListener("resize", refit); // a phone turned
  trapFocus(dialog);
  // The backdrop closes it, but not as the second click of a double click on the tile
  // (the viewer opened under the pointer at the first).
  dialog.addEventListener("click", (event) => {
    if ((event.target === dialog && event.detail < 2) || event.target === close) dialog.close();
  });
  stepFor(dialog, "viewer");
  dialog.addEventListener("close", () => {
    window.removeEventListener("resize", refit);
    dialog.remove();
  });
  dialog.showModal();
  // A long image scrolls with the keys from the start; any other, the ✕ has the focus.
  if (dialog.classList.contains("long")) {
    dialog.tabIndex = -1;
    dialog.focus();
  } else {
    close.focus();
  }
}

// A modal dialog's own step of history while it is open, for the browser's Back (a phone's
// back gesture) to close it, as Back closes the phone's list of conversations: taken once
// the step of a dialog closed just before has gone (that Back would otherwise close this
// one), and gone with it when it is closed otherwise. Opened from the phone's list, the
// dialog's step is over the list's, and Back closes the dialog alone. Resolves once the
// dialog is closed and its step gone. Call it before showModal().
export function stepFor(dialog, kind = "modal") {
  let done;
  const gone = new Promise((resolve) => (done = resolve));
  const back = () => dialog.open && dialog.close();
  leaving.then(() => {
    if (!dialog.open) return;
    history.pushState({ [kind]: true }, "");
    window.addEventListener("popstate", back);
  });
  const closed = () => {
    if (dialog.open) return; // an earlier opening's close event, come after this opening
    dialog.removeEventListener("close", closed);
    window.removeEventListener("popstate", back);
    if (history.state?.[kind]) {
      leaving = new Promise((resolve) => window.addEventListener("popstate", resolve, { once: true }));
      history.back();
    }
    leaving.then(done);
  };
  dialog.addEventListener("close", closed);
  return gone;
}

// Resolved once the step of history of the last dialog closed is gone: a page left meanwhile
// would be undone by that step's Back (sidebar.js leave()).
let leaving = Promise.resolve();
export function stepsSettled() {
  return leaving;
}

// A step of history an overlay took (a dialog, the phone's list of conversations:
// sidebar.js) with no overlay open on it: the page reloaded while it was open, or Forward
// after it closed. Back from there would seem to do nothing, so the step is stepped off.
function leftOver() {
  const state = history.state;
  const open = state?.drawer
    ? document.body.classList.contains("drawer-open")
    : document.querySelector("dialog[open]");
  if ((state?.viewer || state?.modal || state?.drawer) && !open) history.back();
}
leftOver();
window.addEventListener("popstate", leftOver);

// The image's size on screen, as large as the screen allows up to its own; a long image
// (over twice as long as wide) that would be under half as wide as it can be is shown
// across instead, and scrolled.
function fit(dialog, image, width, height) {
  if (!width || !height || !image) return; // its own size then, within the viewer's bounds
  const across = Math.min(width, window.innerWidth * 0.96);
  const scale = Math.min(1, (window.innerWidth * 0.96) / width, (window.innerHeight * 0.86) / height);
  const long = height > 2 * width && width * scale < across / 2;
  const shown = long ? across / width : scale;
  dialog.classList.toggle("long", long);
  image.style.width = `${width * shown}px`;
  image.style.height = `${height * shown}px`;
}
