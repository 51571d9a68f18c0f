// Keyhaven portal: small progressive enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Ask before destructive or consequential forms (Delete, Purge, Restore).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // A job's page refreshes itself until the job is done.
  var refresh = document.querySelector("[data-refresh]");
  if (refresh) {
    var secs = parseFloat(refresh.getAttribute("data-refresh")) || 1;
    window.setTimeout(function () { window.location.reload(); }, secs * 1000);
  }

  // Show only the fields that apply to the chosen option ("row-id:VALUE,VALUE;other-row:VALUE").
  document.querySelectorAll("select[data-toggles]").forEach(function (select) {
    var rules = select.getAttribute("data-toggles").split(";").map(function (rule) {
      var parts = rule.split(":");
      return { row: document.getElementById(parts[0]), values: (parts[1] || "").split(",") };
    });
    function apply() {
      rules.forEach(function (r) {
        if (r.row) { r.row.hidden = r.values.indexOf(select.value) < 0; }
      });
    }
    select.addEventListener("change", apply);
    apply();
  });
});
