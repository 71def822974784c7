// The sends list: status and progress follow the running sends without a reload, and cancel or
// stop asks first. The counts come from one small JSON endpoint for every send on the page.
(function () {
  "use strict";

  function setProgress(node, p) {
    ["total", "succeeded", "failed", "pending", "cancelled"].forEach(function (k) { node.dataset[k] = p[k]; });
    node.querySelector(".hub-ok").style.width = p.succeeded_pct + "%";
    node.querySelector(".hub-fail").style.width = p.failed_pct + "%";
    node.querySelector(".hub-cancel").style.width = p.cancelled_pct + "%";
    node.querySelector(".hub-n-ok").textContent = "✓ " + p.succeeded;
    node.querySelector(".hub-n-fail").textContent = "✗ " + p.failed;
    node.querySelector(".hub-n-pending").textContent = "… " + p.pending;
    node.querySelector(".hub-n-total").textContent = "/ " + p.total;
  }

  function update(rows) {
    rows.forEach(function (s) {
      var status = document.querySelector('[data-send-status="' + s.id + '"]');
      if (!status) return;
      var badge = status.querySelector(".hub-status");
      badge.className = "hub-status hub-status-" + s.status;
      badge.dataset.status = s.status;
      badge.textContent = s.status_label;
      var progress = document.querySelector('[data-send-progress="' + s.id + '"]');
      if (progress) setProgress(progress, s.progress);
      var row = status.closest("tr");
      if (row) {
        var started = row.querySelector(".hub-started"), finished = row.querySelector(".hub-finished");
        if (started && s.started_at) started.textContent = s.started_at;
        if (finished && s.finished_at) finished.textContent = s.finished_at;
        if (!s.cancellable) {
          var button = row.querySelector("[data-send-cancel]");
          if (button) button.remove();
        }
      }
    });
  }

  function live() {
    return Array.prototype.map.call(document.querySelectorAll("[data-send-status]"), function (n) {
      return n;
    }).filter(function (n) {
      var s = n.querySelector(".hub-status").dataset.status;
      return s === "scheduled" || s === "sending";
    }).map(function (n) { return n.dataset.sendStatus; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("result_list");
    if (!list || !document.querySelector("[data-send-status]")) return;
    var url = window.location.pathname.replace(/\/?$/, "/") + "status/";
    var polls = 0;
    function poll() {
      var ids = live();
      if (!ids.length || polls++ > 3600) return;  // stops by itself: nothing running, or an hour
      fetch(url + "?ids=" + ids.join(","), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) { update(data.sends); setTimeout(poll, 1000); })
        .catch(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 1000);

    list.addEventListener("click", function (ev) {
      var button = ev.target.closest("[data-send-cancel]");
      if (button && !window.confirm(button.dataset.confirm)) ev.preventDefault();
    });
  });
})();
