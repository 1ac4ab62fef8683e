// Live preview on the eligibility page (progressive enhancement: without this script the page's
// buttons post the form and the server renders the same result).
(function () {
  "use strict";
  var form = document.getElementById("eligibility");
  if (!form || !window.fetch || !window.FormData) { return; }
  var textarea = document.getElementById("filter");
  var result = document.getElementById("result");
  var body = document.getElementById("result-body");
  var timer = null;
  var serial = 0;

  function number(name) {
    var v = (form.elements[name].value || "").trim();
    return /^\d{1,5}$/.test(v) ? parseInt(v, 10) : null;
  }

  // the same rules as quick_filter() in tenants/registry/eligibility_views.py
  function buildQuick() {
    var households = form.elements.target.value === "households";
    var person = households ? "head." : "";
    var all = [];
    var sex = form.elements.sex.value;
    if (sex) { all.push({field: person + "sex", op: "eq", value: sex}); }
    var lo = number("age_min"), hi = number("age_max");
    if (lo !== null && hi !== null) { all.push({field: person + "age", op: "between", value: [lo, hi]}); }
    else if (lo !== null) { all.push({field: person + "age", op: "gte", value: lo}); }
    else if (hi !== null) { all.push({field: person + "age", op: "lte", value: hi}); }
    var codes = (form.elements.within.value || "").split(/[\s,;]+/).filter(Boolean);
    if (codes.length) { all.push({field: "location", op: "within", value: codes}); }
    var size = number("size_min");
    if (size !== null) { all.push({field: households ? "size" : "household.size", op: "gte", value: size}); }
    if (form.elements.active_only.checked) { all.push({field: "status", op: "eq", value: "active"}); }
    return {all: all};
  }

  // JSON with Python's separators (", " and ": ")
  function compact(v) {
    if (Array.isArray(v)) { return "[" + v.map(compact).join(", ") + "]"; }
    if (v && typeof v === "object") {
      return "{" + Object.keys(v).map(function (k) { return JSON.stringify(k) + ": " + compact(v[k]); }).join(", ") + "}";
    }
    return JSON.stringify(v);
  }

  // the same layout as pretty() in eligibility_views.py: one condition per line
  function pretty(spec) {
    var key = spec.all ? "all" : "any";
    var items = spec[key] || [];
    if (!items.length) { return JSON.stringify(spec); }
    return "{\"" + key + "\": [\n  " + items.map(compact).join(",\n  ") + "\n]}";
  }

  function preview() {
    var data = new FormData(form);
    data.set("action", "preview");
    var mine = ++serial;
    result.setAttribute("aria-busy", "true");
    fetch(form.getAttribute("action"), {method: "POST", body: data, credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (resp) { return resp.json(); })
      .then(function (json) { if (mine === serial) { body.innerHTML = json.html; } })
      .catch(function () { /* keep the last result; the Preview button still posts the form */ })
      .then(function () { if (mine === serial) { result.removeAttribute("aria-busy"); } });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(preview, 400);
  }

  document.getElementById("build").addEventListener("click", function (event) {
    event.preventDefault();
    textarea.value = pretty(buildQuick());
    preview();
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    preview();
  });
  textarea.addEventListener("input", later);
  ["target", "by_level", "on_date"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", later);
  });
  if (!body.innerHTML.trim()) { preview(); }
}());
