// The "Send message" dialog (test send and group send), the customer picker, and the template
// preview on the webhook's page. The server renders what they show (the dialog, a delivery's result);
// the few words of the script's own come from Django's JavaScript catalog (webhooks_jsi18n).
(function () {
  "use strict";

  var gettext = window.gettext || function (text) { return text; };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function csrf(form) {
    var input = form.querySelector("[name=csrfmiddlewaretoken]") ||
      document.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function showErrors(list, errors) {
    list.innerHTML = "";
    Object.keys(errors || {}).forEach(function (field) {
      errors[field].forEach(function (message) {
        list.appendChild(el("li", {"data-field": field}, message));
      });
    });
    list.hidden = !list.children.length;
  }

  // --- The customer picker: indexed prefix search as the user types --------------------------
  // Only the answer to the query in the box can be chosen: a newer keystroke aborts the request in
  // flight and marks the results on screen stale (greyed, not clickable) until its own answer arrives,
  // so a quick click never picks someone from the previous query.
  function initPicker(picker, onChoose) {
    if (picker.dataset.ready) return;
    picker.dataset.ready = "1";
    var input = picker.querySelector(".hub-picker-input");
    var value = picker.querySelector(".hub-picker-value");
    var list = picker.querySelector(".hub-picker-results");
    var timer = null, seq = 0, controller = null;
    var interpolate = window.interpolate || function (fmt, obj) {
      return fmt.replace(/%\((\w+)\)s/g, function (m, key) { return String(obj[key]); });
    };

    function setPending(on) {
      list.classList.toggle("hub-picker-stale", on);
      list.setAttribute("aria-busy", on ? "true" : "false");
      if (on) picker.dataset.pending = "1"; else delete picker.dataset.pending;
    }

    function choose(item, query) {
      if (picker.dataset.pending || query !== input.value.trim()) return;  // a stale result
      value.value = item.id;
      input.value = item.label;
      input.dataset.chosen = item.id;
      list.hidden = true;
      if (onChoose) onChoose(item);
    }

    function render(data, q) {
      list.innerHTML = "";
      list.dataset.query = q;
      if (!data.results.length) list.appendChild(el("li", {"class": "hub-picker-info"}, gettext("No customer matches.")));
      data.results.forEach(function (item) {
        var li = el("li", {"role": "option", "class": "hub-picker-option", "data-customer-id": item.id});
        li.appendChild(el("strong", {}, item.name));
        if (item.wechat_nickname) li.appendChild(el("span", {"class": "hub-muted"}, " · " + item.wechat_nickname));
        if (item.mobile) li.appendChild(el("span", {"class": "hub-muted"}, " · " + item.mobile));
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(item, q); });
        list.appendChild(li);
      });
      if (data.more) {
        var text = data.total_capped
          ? interpolate(gettext("Showing the first %(shown)s of more than %(total)s; type more characters."),
              {shown: data.results.length, total: data.total}, true)
          : interpolate(gettext("Showing the first %(shown)s of %(total)s; type more characters."),
              {shown: data.results.length, total: data.total}, true);
        list.appendChild(el("li", {"class": "hub-picker-info hub-picker-more", "data-total": data.total}, text));
      }
    }

    function search() {
      var q = input.value.trim();
      var mine = ++seq;
      if (controller) controller.abort();
      controller = null;
      if (!q) { setPending(false); list.hidden = true; return; }
      if (list.hidden || !list.querySelector(".hub-picker-option")) {
        list.innerHTML = "";
        list.appendChild(el("li", {"class": "hub-picker-info"}, gettext("Searching…")));
        list.hidden = false;
      }
      var options = {credentials: "same-origin"};
      if (typeof AbortController !== "undefined") {
        controller = new AbortController();
        options.signal = controller.signal;
      }
      fetch(picker.dataset.searchUrl + "?q=" + encodeURIComponent(q), options)
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (mine !== seq || q !== input.value.trim()) return;  // an older answer arriving late
          setPending(false);
          render(data, q);
          list.hidden = false;
        })
        .catch(function () { if (mine === seq) { setPending(false); list.hidden = true; } });
    }

    input.addEventListener("input", function () {
      value.value = "";
      delete input.dataset.chosen;
      clearTimeout(timer);
      seq++;  // whatever answer is on its way is now stale
      if (controller) { controller.abort(); controller = null; }
      setPending(true);
      timer = setTimeout(search, 150);
    });
    input.addEventListener("keydown", function (ev) {
      var first = list.querySelector(".hub-picker-option");
      if (ev.key === "Enter" && picker.dataset.pending) { ev.preventDefault(); return; }
      if (ev.key === "Enter" && !list.hidden && first) { ev.preventDefault(); first.dispatchEvent(new MouseEvent("mousedown")); }
      if (ev.key === "Escape" && !list.hidden) { ev.stopPropagation(); list.hidden = true; }
    });
    input.addEventListener("blur", function () { setTimeout(function () { list.hidden = true; }, 150); });
  }

  // --- Showing a delivery's result, rendered by the server ---------------------------------------
  function pollDelivery(box, resultUrl) {
    var started = Date.now();
    function tick() {
      fetch(resultUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
        var settled = data.final || (data.attempts.length && data.status !== "sending" && data.status !== "pending");
        if (settled) {
          box.innerHTML = data.html;
          box.dataset.status = data.status;
          return;
        }
        if (Date.now() - started > 60000) {
          box.appendChild(el("p", {"class": "hub-muted"},
            gettext("No result yet; the delivery's page shows it once it is recorded.")));
          return;
        }
        setTimeout(tick, 400);
      }).catch(function () { setTimeout(tick, 1000); });
    }
    tick();
  }

  // --- The dialog ------------------------------------------------------------------------------
  function post(form, url) {
    var body = new FormData(form);
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": csrf(form), "Accept": "application/json"}
    }).then(function (r) { return r.json().then(function (data) { return {ok: r.ok, data: data}; }); });
  }

  function initDialog(root) {
    var dialog = root.querySelector(".hub-dialog");
    if (!dialog || dialog.dataset.ready) return;
    dialog.dataset.ready = "1";

    dialog.querySelectorAll(".hub-tab").forEach(function (tab) {
      tab.addEventListener("click", function () {
        dialog.querySelectorAll(".hub-tab").forEach(function (other) {
          var on = other === tab;
          other.classList.toggle("selected", on);
          other.setAttribute("aria-selected", on ? "true" : "false");
        });
        dialog.querySelectorAll(".hub-mode").forEach(function (form) { form.hidden = form.dataset.mode !== tab.dataset.mode; });
      });
    });

    // A test send, or a fixed-event webhook's sample event: one delivery whose result the dialog shows.
    [["#test-send-form", dialog.dataset.testUrl], ["#sample-event-form", dialog.dataset.sampleUrl]].forEach(function (pair) {
      var form = dialog.querySelector(pair[0]);
      if (!form) return;
      initPicker(form.querySelector(".hub-picker"));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var errors = form.querySelector(".hub-errors");
        var box = form.querySelector(".hub-result");
        var note = form.querySelector(".hub-samples-note");
        showErrors(errors, {});
        if (note) note.hidden = true;
        box.hidden = false;
        box.innerHTML = "";
        box.dataset.status = "";
        box.appendChild(el("p", {"class": "hub-muted hub-waiting"}, gettext("Waiting for the result…")));
        // The server checks the form (no customer chosen is its error too) and says what is wrong.
        post(form, pair[1]).then(function (res) {
          if (!res.ok) { box.hidden = true; showErrors(errors, res.data.errors); return; }
          box.dataset.delivery = res.data.delivery_id;
          if (note && res.data.samples_note) { note.textContent = res.data.samples_note; note.hidden = false; }
          pollDelivery(box, res.data.result_url);
        }).catch(function () {
          box.hidden = true;
          showErrors(errors, {__all__: [gettext("The server could not be reached; try again.")]});
        });
      });
    });

    var groupForm = dialog.querySelector("#group-send-form");
    if (groupForm) {
      var zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
      groupForm.querySelector("[name=time_zone]").value = zone;
      var zoneName = groupForm.querySelector(".hub-zone-name");
      if (zoneName) zoneName.textContent = zone;
      var scheduledRow = groupForm.querySelector(".hub-scheduled");
      groupForm.querySelectorAll("[name=when]").forEach(function (radio) {
        radio.addEventListener("change", function () {
          scheduledRow.hidden = groupForm.querySelector("[name=when]:checked").value !== "scheduled";
        });
      });
      groupForm.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var errors = groupForm.querySelector(".hub-errors");
        var box = groupForm.querySelector(".hub-result");
        var button = groupForm.querySelector("[type=submit]");
        button.disabled = true;
        showErrors(errors, {});
        post(groupForm, dialog.dataset.groupUrl).then(function (res) {
          button.disabled = false;
          if (!res.ok) { showErrors(errors, res.data.errors); return; }
          box.hidden = false;
          box.innerHTML = "";
          box.dataset.send = res.data.send_id;
          var p = el("p", {"class": "hub-success"}, res.data.message + " ");
          p.appendChild(el("a", {"href": res.data.sends_url, "id": "open-sends"}, gettext("Open the sends list")));
          box.appendChild(p);
        }).catch(function () {
          button.disabled = false;
          showErrors(errors, {__all__: [gettext("The server could not be reached; try again.")]});
        });
      });
    }
  }

  // --- The modal on the webhook list and page ---------------------------------------------------
  function openModal(url) {
    var modal = document.getElementById("hub-send-modal");
    if (!modal) {
      modal = el("dialog", {"id": "hub-send-modal", "class": "hub-modal"});
      var close = el("button", {"type": "button", "class": "hub-modal-close", "aria-label": "×"}, "×");
      close.addEventListener("click", function () { modal.close(); });
      modal.appendChild(close);
      modal.appendChild(el("div", {"class": "hub-modal-body"}));
      modal.addEventListener("click", function (ev) { if (ev.target === modal) modal.close(); });
      document.body.appendChild(modal);
    }
    var body = modal.querySelector(".hub-modal-body");
    body.innerHTML = "";
    modal.showModal();
    fetch(url, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (html) {
      body.innerHTML = html;
      initDialog(body);
      var first = body.querySelector(".hub-picker-input");
      if (first) first.focus();
    }).catch(function () { body.textContent = String.fromCharCode(9888); });
  }

  // --- Template preview on the webhook's page ---------------------------------------------------
  function initPreview() {
    var box = document.getElementById("template-preview");
    if (!box) return;
    var out = box.querySelector("#preview-body");
    var err = box.querySelector("#preview-error");
    var form = box.closest("form");
    function render(item) {
      var data = new FormData();
      data.append("customer", item.id);
      data.append("webhook", box.dataset.webhook || "");
      ["body_template", "message_type", "empty_text"].forEach(function (name) {
        var field = form && form.querySelector("[name=" + name + "]");
        if (field) data.append(name, field.value);
      });
      fetch(box.dataset.previewUrl, {
        method: "POST", body: data, credentials: "same-origin", headers: {"X-CSRFToken": csrf(form || document)}
      }).then(function (r) { return r.json(); }).then(function (res) {
        var warned = box.querySelector("#preview-warnings");
        if (warned) {
          warned.innerHTML = "";
          (res.warnings || []).forEach(function (text) { warned.appendChild(el("li", {"class": "warning"}, text)); });
          warned.hidden = !(res.warnings || []).length;
        }
        if (res.body !== undefined) {
          out.textContent = res.body; out.hidden = false; err.hidden = true;
        } else {
          var errors = res.errors || {__all__: [res.error]};
          showErrors(err, errors); out.hidden = true;
        }
      });
    }
    initPicker(box.querySelector(".hub-picker"), render);
  }

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest("[data-send-dialog]");
    if (!link || typeof HTMLDialogElement === "undefined") return;
    ev.preventDefault();
    openModal(link.dataset.sendDialog);
  });

  document.addEventListener("DOMContentLoaded", function () {
    initDialog(document);
    initPreview();
  });
})();
