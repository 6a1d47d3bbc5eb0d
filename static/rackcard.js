/* rackcard page behaviour. A file, not inline: the CSP allows scripts from 'self' only. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* htmx requests carry the CSRF token in a header (forms carry it as a field). */
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  /* Dark mode toggle in place (the form posts to /preferences/theme without JavaScript). */
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-theme-toggle]");
    if (!button) return;
    event.preventDefault();
    var root = document.documentElement;
    var current = root.getAttribute("data-theme") ||
      (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    var next = current === "dark" ? "light" : "dark";
    root.setAttribute("data-theme", next);
    document.cookie = "rc_theme=" + next + "; path=/; max-age=31536000; samesite=lax";
    button.value = next === "dark" ? "light" : "dark";
    button.textContent = next === "dark" ? button.dataset.lightLabel : button.dataset.darkLabel;
  });

  window.rackcard = { csrfToken: csrfToken };
})();
