// Show only the fieldsets that apply to the chosen authentication and trigger type,
// and open the input of a stored secret only when "Replace" is ticked.
document.addEventListener("DOMContentLoaded", function () {
  function sync() {
    var auth = document.getElementById("id_auth_type");
    var trigger = document.getElementById("id_trigger_type");
    document.querySelectorAll("fieldset").forEach(function (fs) {
      var show = true;
      fs.classList.forEach(function (c) {
        if (c.indexOf("auth-") === 0 && auth) show = show && c === "auth-" + auth.value;
        if (c.indexOf("trigger-") === 0 && trigger) show = show && c === "trigger-" + trigger.value;
      });
      fs.hidden = !show;
    });
  }
  ["id_auth_type", "id_trigger_type"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) el.addEventListener("change", sync);
  });
  document.querySelectorAll("[data-secret-replace]").forEach(function (box) {
    var input = box.closest("div, p, td").querySelector(".secret-input");
    box.addEventListener("change", function () { if (input) input.hidden = !box.checked; });
  });
  sync();
});
