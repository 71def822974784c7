// The bulk recovers list: status and progress of the running ones follow without a reload, and stop
// asks first. The server renders each row's live cells (the list's own column methods); they are put in place.
(function () {
  "use strict";

  function update(rows) {
    rows.forEach(function (r) {
      var status = document.querySelector('[data-recovery-status="' + r.id + '"]');
      var row = status && status.closest("tr");
      if (!row) return;
      Object.keys(r.cells).forEach(function (name) {
        var cell = row.querySelector("td.field-" + name);
        if (cell) cell.innerHTML = r.cells[name];
      });
    });
  }

  function running() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-recovery-status]"), function (n) {
      return n.dataset.status === "running";
    }).map(function (n) { return n.dataset.recoveryStatus; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("result_list");
    if (!list || !document.querySelector("[data-recovery-status]")) return;
    var url = window.location.pathname.replace(/\/?$/, "/") + "status/";
    var polls = 0;
    function poll() {
      var ids = running();
      if (!ids.length || polls++ > 3600) return;  // stops by itself: nothing running, or an hour
      fetch(url + "?ids=" + ids.join(","), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) { update(data.recoveries); setTimeout(poll, 1000); })
        .catch(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 1000);

    list.addEventListener("click", function (ev) {
      var button = ev.target.closest("[data-recovery-stop]");
      if (button && !window.confirm(button.dataset.confirm)) ev.preventDefault();
    });
  });
})();
