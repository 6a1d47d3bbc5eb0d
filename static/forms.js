// Inventory forms: ask before a delete (a file, not inline: CSP script-src 'self').
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.matches && form.matches("form[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
