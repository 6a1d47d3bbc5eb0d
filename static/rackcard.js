/* rackcard page behaviour. A file, not inline: the CSP allows scripts from 'self' only. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

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

  /* "/" focuses the search box; arrows walk the suggestions; Escape closes them. */
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    var box = document.querySelector("[data-search-box]");
    if (!box) return;
    if (event.key === "/" && !typing(event.target) && !event.ctrlKey && !event.metaKey) {
      box.focus(); box.select(); event.preventDefault(); return;
    }
    var list = document.getElementById("search-results");
    var links = list ? Array.prototype.slice.call(list.querySelectorAll("a")) : [];
    if (event.target === box && event.key === "ArrowDown" && links.length) { links[0].focus(); event.preventDefault(); }
    else if (links.indexOf(event.target) >= 0 && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      var i = links.indexOf(event.target) + (event.key === "ArrowDown" ? 1 : -1);
      if (i < 0) box.focus(); else if (i < links.length) links[i].focus();
      event.preventDefault();
    } else if (event.key === "Escape" && list) { list.innerHTML = ""; box.focus(); }
  });

  /* SLA countdowns tick every second between refreshes (the server renders the first value). */
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function tick() {
    var units = document.documentElement.lang === "ru" ? { d: "д", h: "ч", m: "мин" } : { d: "d", h: "h", m: "min" };
    Array.prototype.forEach.call(document.querySelectorAll(".countdown[data-due]"), function (el) {
      var left = Math.round((Date.parse(el.dataset.due) - Date.now()) / 1000);
      var s = Math.abs(left), text;
      if (s >= 86400) text = Math.floor(s / 86400) + " " + units.d + " " + Math.floor((s % 86400) / 3600) + " " + units.h;
      else if (s >= 3600) text = Math.floor(s / 3600) + " " + units.h + " " + pad(Math.floor((s % 3600) / 60)) + " " + units.m;
      else text = Math.floor(s / 60) + ":" + pad(s % 60);
      if (left < 0) { text = text + " " + el.dataset.lateLabel; el.classList.add("breached"); }
      else if (left < 900) el.classList.add("soon");
      el.textContent = text;
    });
  }
  window.setInterval(tick, 1000);

  window.rackcard = { csrfToken: csrfToken };
})();
