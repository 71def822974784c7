// The channel form shows what the chosen kind needs: the robot's URL and secret, or the email recipients.
"use strict";
(function () {
  function update() {
    const kind = document.getElementById("id_kind");
    if (!kind) return;
    const robot = kind.value !== "email";
    document.querySelectorAll("fieldset.alerts-robot").forEach((el) => { el.hidden = !robot || !kind.value; });
    document.querySelectorAll("fieldset.alerts-email").forEach((el) => { el.hidden = kind.value !== "email"; });
    // WeCom's group robot does not sign: its key is in the URL.
    document.querySelectorAll(".form-row.field-secret").forEach((el) => { el.hidden = kind.value === "wecom"; });
  }
  document.addEventListener("DOMContentLoaded", () => {
    const kind = document.getElementById("id_kind");
    if (kind) kind.addEventListener("change", update);
    // A stored URL or secret is never shown: "Replace" opens an empty input for a new one.
    document.querySelectorAll("[data-secret-replace]").forEach((box) => {
      const input = box.closest("div, p, td").querySelector(".secret-input");
      box.addEventListener("change", () => { if (input) input.hidden = !box.checked; });
    });
    update();
  });
})();
