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

// The retry schedule in words, live as the retry fields change: the server computes it with the
// engine's own rules (webhooks/retry_policy.py); nothing of the rules is repeated here.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("retry-schedule-box");
  if (!box) return;
  var list = document.getElementById("retry-schedule");
  var error = document.getElementById("retry-schedule-error");
  var timer = null;
  var asked = 0;
  function value(id) {
    var el = document.getElementById(id);
    if (!el) return "";
    if (el.type === "checkbox") return el.checked ? "1" : "0";
    return el.value;
  }
  function refresh() {
    var policy = document.getElementById("id_retry_policy");
    var delays = document.getElementById("id_retry_delays");
    if (delays) delays.closest(".form-row").hidden = !policy || policy.value !== "custom";
    var params = new URLSearchParams({
      retry_policy: value("id_retry_policy"),
      retry_delays: value("id_retry_delays"),
      auto_retry: value("id_auto_retry"),
    });
    var mine = ++asked;
    fetch(box.dataset.scheduleUrl + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== asked) return;
        list.replaceChildren();
        data.lines.forEach(function (line) {
          var li = document.createElement("li");
          li.textContent = line;
          list.appendChild(li);
        });
        error.replaceChildren();
        error.hidden = !data.error;
        if (data.error) {
          var li = document.createElement("li");
          li.textContent = data.error;
          error.appendChild(li);
        }
      });
  }
  ["id_retry_policy", "id_retry_delays", "id_auto_retry"].forEach(function (id) {
    var el = document.getElementById(id);
    if (!el) return;
    el.addEventListener("change", refresh);
    el.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 250); });
  });
  refresh();
});
