// Rows of key and value over a JSON textarea: the textarea stays the form's value.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-key-value]").forEach(function (box) {
    var area = box.querySelector("textarea"), body = box.querySelector("tbody");
    var data = {};
    try { data = JSON.parse(area.value || "{}"); } catch (e) { box.classList.add("no-js"); return; }
    function sync() {
      var out = {};
      body.querySelectorAll("tr").forEach(function (row) {
        var k = row.querySelector(".kv-key").value.trim(), v = row.querySelector(".kv-value").value;
        if (!k) return;
        // Keep numbers and true/false typed as such, like the CSV import keeps text.
        if (v === "true" || v === "false") out[k] = v === "true";
        else if (v !== "" && !isNaN(Number(v)) && /^-?\d+(\.\d+)?$/.test(v)) out[k] = Number(v);
        else out[k] = v;
      });
      area.value = JSON.stringify(out);
    }
    function add(k, v) {
      var row = document.createElement("tr");
      row.innerHTML = '<td><input class="kv-key" type="text"></td><td><input class="kv-value" type="text"></td>' +
        '<td><a href="#" class="deletelink kv-remove"></a></td>';
      row.querySelector(".kv-key").value = k; row.querySelector(".kv-value").value = v === undefined ? "" : String(v);
      row.querySelectorAll("input").forEach(function (i) { i.addEventListener("input", sync); });
      row.querySelector(".kv-remove").addEventListener("click", function (e) { e.preventDefault(); row.remove(); sync(); });
      body.appendChild(row);
    }
    Object.keys(data).forEach(function (k) { add(k, data[k]); });
    box.querySelector(".key-value-add").addEventListener("click", function () { add("", ""); });
  });
});
