// "Test connection" on the webhook's page: one POST, the server pings the receiver and renders what
// happened (webhooks/services/connection_check.py); the script only shows it in a modal.
(function () {
  "use strict";

  var gettext = window.gettext || function (text) { return text; };

  function csrf() {
    var input = document.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function modal() {
    var dialog = document.getElementById("hub-connection-modal");
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.id = "hub-connection-modal";
    dialog.className = "hub-modal";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "hub-modal-close";
    close.setAttribute("aria-label", "×");
    close.textContent = "×";
    close.addEventListener("click", function () { dialog.close(); });
    var title = document.createElement("h2");
    title.className = "hub-dialog-title";
    title.textContent = gettext("Test connection");
    var body = document.createElement("div");
    body.className = "hub-modal-body hub-connection-body";
    body.id = "connection-test-result";
    dialog.appendChild(close);
    dialog.appendChild(title);
    dialog.appendChild(body);
    document.body.appendChild(dialog);
    return dialog;
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-connection-test]");
    if (!button || typeof HTMLDialogElement === "undefined") return;
    ev.preventDefault();
    var dialog = modal();
    var body = dialog.querySelector(".hub-connection-body");
    body.dataset.outcome = "";
    body.innerHTML = "";
    var waiting = document.createElement("p");
    waiting.className = "hub-muted hub-waiting";
    waiting.textContent = gettext("Testing the connection…");
    body.appendChild(waiting);
    dialog.showModal();
    fetch(button.dataset.connectionTest, {
      method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrf(), "Accept": "application/json"}
    }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function (data) {
      body.innerHTML = data.html;
      body.dataset.outcome = data.outcome;
    }).catch(function () {
      body.textContent = gettext("The server could not be reached; try again.");
    });
  });
})();
