// Loaded before the page is drawn (a plain script, so no flash). <html data-theme> is the
// person's choice ("light", "dark", or absent for the system's); <html data-scheme> is the
// palette in force, which the stylesheets follow, kept in step with the system's setting.
(function () {
  var root = document.documentElement;
  var system = window.matchMedia("(prefers-color-scheme: dark)");
  function apply() {
    try {
      var chosen = localStorage.getItem("theme");
      if (chosen === "light" || chosen === "dark") root.dataset.theme = chosen;
      else delete root.dataset.theme;
    } catch (e) {
      /* storage may be disabled: the system theme applies */
    }
    root.dataset.scheme = root.dataset.theme || (system.matches ? "dark" : "light");
  }
  apply();
  system.addEventListener("change", apply);
  window.webchatApplyTheme = apply;
})();
