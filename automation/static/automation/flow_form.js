// The flow form: only the chosen trigger's field is shown (as webhook_form.js does for authentication
// types), and steps are ordered with up/down buttons that write their "order" numbers.
/*global gettext*/
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var t = typeof gettext === "function" ? gettext : function (s) { return s; };

  // --- Trigger: the fields of the chosen trigger only (the map comes from automation/models.py) ---
  var trigger = document.getElementById("id_trigger");
  if (trigger && trigger.dataset.triggerFields) {
    var fields = JSON.parse(trigger.dataset.triggerFields);
    var syncTrigger = function () {
      Object.keys(fields).forEach(function (value) {
        document.querySelectorAll(".form-row.field-" + fields[value]).forEach(function (row) {
          row.hidden = value !== trigger.value;
        });
      });
    };
    trigger.addEventListener("change", syncTrigger);
    syncTrigger();
  }

  // --- Steps: up/down buttons that reorder the rows and renumber them 10, 20, 30… ---
  var group = document.getElementById("steps-group");
  if (!group) return;
  var body = group.querySelector("tbody");
  if (!body) return;

  function filled(row) {
    // A step that exists or has a kind chosen; blank extra rows stay untouched (else Django would
    // validate them as new steps).
    var id = row.querySelector("input[name$='-id']");
    var kind = row.querySelector("select[name$='-kind']");
    return (id && id.value) || (kind && kind.value);
  }
  function rows() {
    return Array.prototype.filter.call(body.querySelectorAll("tr.form-row"), function (row) {
      return !row.classList.contains("empty-form") && row.id && row.id.indexOf("steps-") === 0;
    });
  }
  function renumber() {
    var n = 0;
    rows().forEach(function (row) {
      if (!filled(row)) return;
      n += 1;
      var order = row.querySelector("input[name$='-order']");
      if (order) order.value = String(n * 10);
    });
  }
  function move(row, direction) {
    var steps = rows().filter(filled);
    var index = steps.indexOf(row);
    var other = steps[index + direction];
    if (index < 0 || !other) return;
    if (direction < 0) body.insertBefore(row, other);
    else body.insertBefore(other, row);
    renumber();
  }
  function addButtons(row) {
    var cell = row.querySelector("td.field-order");
    if (!cell || cell.querySelector(".step-move")) return;
    [["up", "↑", t("Move up")], ["down", "↓", t("Move down")]].forEach(function (spec) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "step-move step-move-" + spec[0];
      button.textContent = spec[1];
      button.title = spec[2];
      button.setAttribute("aria-label", spec[2]);
      button.addEventListener("click", function () { move(row, spec[0] === "up" ? -1 : 1); });
      cell.appendChild(button);
    });
  }
  rows().forEach(addButtons);
  // Rows added with "Add another": buttons too, and a number after the others once a kind is chosen.
  document.addEventListener("formset:added", function (event) {
    var row = event.target;
    if (row && row.id && row.id.indexOf("steps-") === 0) addButtons(row);
  });
  body.addEventListener("change", function (event) {
    if (event.target.matches("select[name$='-kind']")) renumber();
  });
});
