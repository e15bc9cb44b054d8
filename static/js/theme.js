// Loaded before the page is drawn (a plain script, so no flash): the theme the person
// chose — "light", "dark", or nothing for the system's — as <html data-theme>.
(function () {
  try {
    var theme = localStorage.getItem("theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) {
    /* storage may be disabled: the system theme applies */
  }
})();
