// The delivery page: "Redeliver" asks first; after it (or while the delivery is due) the page watches
// the delivery's state and reloads once its new attempt is recorded, so the attempt shows without a click.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("redeliver-button");
    if (button) {
      button.form.addEventListener("submit", function (ev) {
        if (!window.confirm(button.dataset.confirm)) ev.preventDefault();
      });
    }

    var summary = document.getElementById("delivery-summary");
    if (!summary || !summary.dataset.watch) return;
    var attempts = summary.dataset.attempts, status = summary.dataset.status;
    var polls = 0;
    function poll() {
      if (polls++ > 300) return;  // stops by itself after about ten minutes
      fetch(summary.dataset.watch, {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          var changed = String(s.attempt_count) !== attempts || s.status !== status;
          // Reload once the attempt is recorded and nothing more is about to happen right now.
          if (changed && s.status !== "sending" && !s.redelivery_waiting) { window.location.reload(); return; }
          setTimeout(poll, 2000);
        })
        .catch(function () { setTimeout(poll, 4000); });
    }
    setTimeout(poll, 1500);
  });
})();
