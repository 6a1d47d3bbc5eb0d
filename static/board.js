/* The NOC board: keyboard (j/k move, a acknowledge, Enter open), the selection kept
   across refreshes, an optional sound and notification for a new P1, wall-mode auto-scroll. */
(function () {
  "use strict";
  var selectedId = null;
  var knownP1 = null;
  var ALERT_KEY = "rackcard.p1alert";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#board-body tr[data-incident]")); }

  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) { selectedId = null; return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    selectedId = row.dataset.incident;
    row.scrollIntoView({ block: "nearest" });
  }

  function current() {
    return rows().filter(function (r) { return r.dataset.incident === selectedId; })[0] || null;
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(current());
    index = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[index]);
  }

  function acknowledge(row) {
    if (!row || row.dataset.canAck !== "yes") return;
    htmx.ajax("POST", row.dataset.ackUrl, { swap: "none", source: row });
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (!document.getElementById("board-body")) return;
    if (event.key === "j") { move(1); event.preventDefault(); }
    else if (event.key === "k") { move(-1); event.preventDefault(); }
    else if (event.key === "a") { acknowledge(current()); event.preventDefault(); }
    else if (event.key === "Enter" && current()) { window.location.href = current().dataset.href; event.preventDefault(); }
  });

  document.addEventListener("click", function (event) {
    var row = event.target.closest("#board-body tr[data-incident]");
    if (row && !event.target.closest("a")) select(row);
  });

  /* ---- a new P1: a short tone and a browser notification, when the user turned it on */
  function alertsOn() { return window.localStorage.getItem(ALERT_KEY) === "on"; }

  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.4);
    } catch (e) { /* no audio: the notification and the title still tell */ }
  }

  function checkNewP1() {
    var body = document.getElementById("board-body");
    if (!body) return;
    var ids = (body.dataset.p1Ids || "").split(",").filter(Boolean);
    if (knownP1 !== null && alertsOn()) {
      var fresh = ids.filter(function (id) { return knownP1.indexOf(id) < 0; });
      if (fresh.length) {
        beep();
        if ("Notification" in window && Notification.permission === "granted") {
          var row = document.querySelector('#board-body tr[data-incident="' + fresh[0] + '"] .c-title a');
          new Notification("P1", { body: row ? row.textContent.trim() : "#" + fresh[0] });
        }
      }
    }
    knownP1 = ids;
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-p1-alert]")) {
      window.localStorage.setItem(ALERT_KEY, event.target.checked ? "on" : "off");
      if (event.target.checked && "Notification" in window && Notification.permission === "default") {
        Notification.requestPermission();
      }
    } else if (event.target.closest("form[data-autosubmit]")) {
      event.target.closest("form").requestSubmit();
    }
  });

  /* ---- wall mode: scroll slowly through a long board, pause at both ends */
  function autoScroll() {
    if (!document.body.classList.contains("wall")) return;
    var direction = 1, pause = 0;
    window.setInterval(function () {
      var max = document.documentElement.scrollHeight - window.innerHeight;
      if (max <= 0) return;
      if (pause > 0) { pause -= 1; return; }
      window.scrollBy(0, direction);
      if (window.scrollY >= max || window.scrollY <= 0) { direction = -direction; pause = 60; }
    }, 50);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "board-body" || document.getElementById("board-body")) {
      if (selectedId) select(current());
      checkNewP1();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector("[data-p1-alert]");
    if (toggle) toggle.checked = alertsOn();
    checkNewP1();
    autoScroll();
  });
})();
