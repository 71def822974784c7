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

// The message body's helpers (webhooks/templates/webhooks/body_help.html, built by the server from
// webhooks/content/body_fields.py): insert an attribute at the cursor, with its own fallback, start from a
// template, and say as one types what would be refused or always empty.
document.addEventListener("DOMContentLoaded", function () {
  var help = document.getElementById("body-help");
  var editor = document.getElementById("id_body_template");
  if (!help || !editor) return;
  var row = editor.closest(".form-row") || editor.parentNode;
  row.appendChild(help);
  var panel = document.getElementById("attribute-panel");
  var toggle = document.getElementById("insert-attribute");
  var fallback = document.getElementById("attr-fallback");
  var pageSelect = document.getElementById("attr-page");
  var form = editor.form;

  function quoted(text) {
    return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  }
  // Where the marketer last was in the editor, kept when she leaves it: a click on the picker inserts
  // at the cursor if she is in the editor, else where she was.
  var last = null;
  editor.addEventListener("blur", function () {
    last = {start: editor.selectionStart, end: editor.selectionEnd};
  });
  var messageType = document.getElementById("id_message_type");
  // A JSON object body and no cursor yet: the attribute goes in as a new key before the final "}", so the
  // body stays valid JSON. The placeholders are masked to parse it (${sendId} stands unquoted).
  function insertAsKey(name, placeholder) {
    if (messageType && messageType.value !== "json") return false;
    var text = editor.value;
    var close = text.lastIndexOf("}");
    var parsed;
    try { parsed = JSON.parse(text.replace(/\$\{[^}]*\}/g, "0")); } catch (e) { return false; }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed) || close < 0) return false;
    var base = name.split(".").pop(), key = base, n = 2;
    while (Object.prototype.hasOwnProperty.call(parsed, key)) key = base + n++;
    var before = text.slice(0, close).replace(/\s*$/, "");
    var multiline = text.indexOf("\n") >= 0;
    var entry = (Object.keys(parsed).length ? "," : "") + (multiline ? "\n  " : "") +
      JSON.stringify(key) + ": \"" + placeholder + "\"";
    editor.value = before + entry + (multiline ? "\n" : "") + text.slice(close);
    var at = before.length + entry.length;
    editor.focus();
    editor.setSelectionRange(at, at);
    last = {start: at, end: at};
    editor.dispatchEvent(new Event("input", {bubbles: true}));
    return true;
  }
  function insert(text, name) {
    var focused = document.activeElement === editor;
    if (!focused && !last && name && insertAsKey(name, text)) return;
    var start = focused ? editor.selectionStart : last ? last.start : editor.value.length;
    var end = focused ? editor.selectionEnd : last ? last.end : start;
    editor.focus();
    editor.setRangeText(text, start, end, "end");
    last = {start: editor.selectionStart, end: editor.selectionEnd};
    editor.dispatchEvent(new Event("input", {bubbles: true}));
  }
  toggle.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
  });
  // mousedown keeps the editor's selection: a click on a button would otherwise move the focus first.
  help.addEventListener("mousedown", function (ev) {
    if (ev.target.closest(".hub-attr")) ev.preventDefault();
  });
  help.addEventListener("click", function (ev) {
    var button = ev.target.closest(".hub-attr");
    if (!button) return;
    var name = button.dataset.name;
    var text = fallback && fallback.value ? "${" + name + '!"' + quoted(fallback.value) + '"}' : "${" + name + "}";
    insert(text, name);
  });
  if (pageSelect) {
    pageSelect.addEventListener("change", function () {
      help.querySelectorAll(".hub-attr-page").forEach(function (box) {
        box.hidden = box.dataset.page !== pageSelect.value;
      });
    });
  }
  help.querySelectorAll(".hub-starter").forEach(function (button) {
    button.addEventListener("click", function () {
      var body = button.dataset.body;
      var page = pageSelect && pageSelect.value && help.querySelector('.hub-attr-page[data-page="' + pageSelect.value + '"]');
      if (button.dataset.starter === "form" && page) body = page.dataset.starterBody;
      if (editor.value.trim() && editor.value !== body &&
          !window.confirm((window.gettext || String)("Replace the message body with this starter template?"))) return;
      editor.value = body;
      last = null;
      editor.dispatchEvent(new Event("input", {bubbles: true}));
    });
  });

  var errorBox = document.getElementById("body-error");
  var warningBox = document.getElementById("body-warnings");
  function show(box, items, cls) {
    box.innerHTML = "";
    items.forEach(function (text) {
      var li = document.createElement("li");
      if (cls) li.className = cls;
      li.textContent = text;
      box.appendChild(li);
    });
    box.hidden = !items.length;
  }
  var timer = null, asked = 0;
  function check() {
    var data = new FormData();
    ["body_template", "message_type", "empty_text"].forEach(function (name) {
      var field = form.querySelector("[name=" + name + "]");
      if (field) data.append(name, field.value);
    });
    var token = form.querySelector("[name=csrfmiddlewaretoken]");
    var mine = ++asked;
    fetch(help.dataset.checkUrl, {
      method: "POST", body: data, credentials: "same-origin", headers: {"X-CSRFToken": token ? token.value : ""}
    }).then(function (r) { return r.json(); }).then(function (res) {
      if (mine !== asked) return;  // an older answer arriving late
      show(errorBox, res.error ? [res.error] : [], "");
      show(warningBox, res.warnings || [], "warning");
    }).catch(function () {});
  }
  ["input", "change"].forEach(function (kind) {
    editor.addEventListener(kind, function () { clearTimeout(timer); timer = setTimeout(check, 400); });
  });
  var type = document.getElementById("id_message_type");
  if (type) type.addEventListener("change", check);
  if (editor.value.trim()) check();
});

// The retry schedule in words, live as the retry fields change: the server computes it with the
// engine's own rules (webhooks/engine/retry_policy.py); nothing of the rules is repeated here.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("retry-schedule-box");
  // A read-only page has no retry inputs: the server's words for the stored policy stand as they are.
  if (!box || !document.getElementById("id_retry_policy")) return;
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
