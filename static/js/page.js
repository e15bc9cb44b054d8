// The read-only pages (a shared conversation, the list of shared links): code blocks get
// their bar (language, Copy, Download), an attached image opens whole over the page, and a
// form marked data-confirm asks first, in the page's own dialog; one marked data-busy
// says it is at work.

import { ask, viewImage } from "./dialog.js";
import { decorateCode, downloadCode } from "./render.js";

decorateCode(document);
document.addEventListener("click", async (event) => {
  const image = event.target.closest("a.attachment.image");
  if (image && event.button === 0 && !(event.ctrlKey || event.metaKey || event.shiftKey)) {
    event.preventDefault();
    viewImage(image.href, image.title);
    return;
  }
  const button = event.target.closest(".code-bar button");
  if (!button) return;
  if (button.classList.contains("download-code")) {
    downloadCode(button);
    return;
  }
  const code = button.closest(".code-bar").nextElementSibling.querySelector("code");
  try {
    await navigator.clipboard.writeText(code?.textContent || "");
    button.textContent = gettext("Copied");
    setTimeout(() => (button.textContent = gettext("Copy")), 1500);
  } catch {
    /* refused by the browser: the text can still be selected */
  }
});
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
      button.textContent = form.dataset.busy;
    });
  });
}
