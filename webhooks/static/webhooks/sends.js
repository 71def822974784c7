// The sends list: status and progress follow the running sends without a reload, and cancel or
// stop asks first. One small JSON endpoint answers for every send on the page with its row's live
// cells rendered by the server (the same admin methods that rendered the page); they are put in place.
(function () {
  "use strict";

  function update(rows) {
    rows.forEach(function (s) {
      var status = document.querySelector('[data-send-status="' + s.id + '"]');
      var row = status && status.closest("tr");
      if (!row) return;
      Object.keys(s.cells).forEach(function (name) {
        var cell = row.querySelector("td.field-" + name);
        if (cell) cell.innerHTML = s.cells[name];
      });
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
