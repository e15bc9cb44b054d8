// The read-only pages (a shared conversation, the list of shared links): code blocks get
// their bar (language, Copy, Download), a shared link's Copy link button copies it whole,
// an attached image opens whole over the page, and a form marked data-confirm asks first,
// in the page's own dialog; one marked data-busy says it is at work; times read in the
// reader's own time zone.

import { ask, viewImage } from "./dialog.js";
import { decorateCode, downloadCode } from "./render.js";

decorateCode(document);

// A moment the server wrote in its own time zone (and said which) reads in the reader's,
// in the page's language, and in full, the zone named, as its title (the `moment` filter of
// webchat/templatetags). data-local="day": the day alone. A date without a time
// (datetime="2026-12-31") is a day of the calendar, the same in every zone.
// A moment's day and time each hold together on a narrow column ("Dec 5, 2026" / "9:51 PM").
const language = document.documentElement.lang || undefined;
const days = new Intl.DateTimeFormat(language, { dateStyle: "medium" });
const hours = new Intl.DateTimeFormat(language, { timeStyle: "short" });
const calendarDays = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeZone: "UTC" });
const inFull = {
  moment: new Intl.DateTimeFormat(language, { dateStyle: "full", timeStyle: "long" }),
  day: new Intl.DateTimeFormat(language, { dateStyle: "full" }),
  calendarDay: new Intl.DateTimeFormat(language, { dateStyle: "full", timeZone: "UTC" }),
};
function unbroken(text) {
  const part = document.createElement("span");
  part.className = "nowrap";
  part.textContent = text;
  return part;
}
for (const time of document.querySelectorAll("time[data-local]")) {
  const moment = new Date(time.dateTime);
  if (Number.isNaN(moment.getTime())) continue;
  if (/^\d{4}-\d{2}-\d{2}$/.test(time.dateTime)) {
    time.replaceChildren(unbroken(calendarDays.format(moment)));
    time.title = inFull.calendarDay.format(moment);
  } else if (time.dataset.local === "day") {
    time.replaceChildren(unbroken(days.format(moment)));
    time.title = inFull.day.format(moment);
  } else {
    time.replaceChildren(unbroken(days.format(moment)), " ", unbroken(hours.format(moment)));
    time.title = inFull.moment.format(moment);
  }
}
document.addEventListener("click", async (event) => {
  const image = event.target.closest("a.attachment.image");
  if (image && event.button === 0 && !(event.ctrlKey || event.metaKey || event.shiftKey)) {
    event.preventDefault();
    viewImage(image.href, image.title, image.querySelector("img"));
    return;
  }
  const copyLink = event.target.closest("button.copy-link");
  if (copyLink) {
    // The link's href property is the whole address, scheme and host included.
    await copy(copyLink.previousElementSibling.href, copyLink, gettext("Copy link"));
    return;
  }
  const button = event.target.closest(".code-bar button");
  if (!button) return;
  if (button.classList.contains("download-code")) {
    downloadCode(button);
    return;
  }
  const code = button.closest(".code-bar").nextElementSibling.querySelector("code");
  await copy(code?.textContent || "", button, gettext("Copy"));
});

async function copy(text, button, label) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = gettext("Copied");
    setTimeout(() => (button.textContent = label), 1500);
  } catch {
    /* refused by the browser: the text can still be selected */
  }
}
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", async (event) => {
    if (form.dataset.confirmed) return;
    event.preventDefault();
    const yes = await ask({ title: form.dataset.confirm, text: form.dataset.confirmText || "", confirm: form.dataset.confirmButton || gettext("OK"), danger: true });
    if (!yes) return;
    form.dataset.confirmed = "1";
    form.requestSubmit();
  });
}
// A form that takes a while (an import): its button says so, and is not pressed twice.
for (const form of document.querySelectorAll("form[data-busy]")) {
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[type=submit]");
    setTimeout(() => {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      button.textContent = form.dataset.busy;
    });
  });
}

// A file input in the page's language (the browser's own says "Choose File" in the
// browser's): a button that opens it and the name of the file chosen.
for (const input of document.querySelectorAll("input[type=file][data-picker]")) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.textContent = gettext("Choose a file");
  const chosen = document.createElement("span");
  chosen.className = "file-chosen";
  chosen.id = `${input.id}-chosen`;
  chosen.textContent = gettext("No file chosen");
  button.setAttribute("aria-describedby", chosen.id);
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => (chosen.textContent = input.files[0]?.name || gettext("No file chosen")));
  input.classList.add("visually-hidden");
  input.tabIndex = -1;
  input.after(button, " ", chosen);
}
