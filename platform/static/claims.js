// Claim entry form (progressive enhancement: without this script the form keeps its rows and works).
// Adds line rows (button, or typing into the last row), and shows each line's amount and the total
// from the prices typed (a price left empty comes from the price list when the claim is saved).
(function () {
  "use strict";
  var form = document.getElementById("claim-form");
  if (!form) { return; }
  var body = form.querySelector("#lines tbody");
  var count = document.getElementById("row-count");
  var total = document.getElementById("total");
  var add = document.getElementById("add-line");
  var max = 200;

  function number(text) {
    var v = (text || "").replace(/\s/g, "").replace(",", ".");
    return /^\d+(\.\d+)?$/.test(v) ? parseFloat(v) : null;
  }

  function refresh() {
    var sum = 0, any = false;
    Array.prototype.forEach.call(body.querySelectorAll("tr.line"), function (row) {
      var i = row.getAttribute("data-row");
      var q = number(form.elements["line-" + i + "-quantity"].value);
      var p = number(form.elements["line-" + i + "-price"].value);
      var cell = row.querySelector("[data-amount]");
      if (q !== null && p !== null) {
        var amount = Math.round(q * p * 100) / 100;
        cell.textContent = amount.toFixed(2);
        sum += amount; any = true;
      } else {
        cell.textContent = "";
      }
    });
    total.textContent = any ? sum.toFixed(2) + " " + form.getAttribute("data-currency") : "";
  }

  function addRow(focus) {
    var rows = body.querySelectorAll("tr.line");
    if (rows.length >= max) { return; }
    var last = rows[rows.length - 1];
    var n = rows.length;
    var row = last.cloneNode(true);
    row.setAttribute("data-row", n);
    row.classList.remove("has-error");
    row.cells[0].textContent = n + 1;
    Array.prototype.forEach.call(row.querySelectorAll(".field-error"), function (e) { e.remove(); });
    Array.prototype.forEach.call(row.querySelectorAll("input"), function (input) {
      input.name = input.name.replace(/^line-\d+-/, "line-" + n + "-");
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+/, String(n + 1)));
    });
    row.querySelector("[data-amount]").textContent = "";
    body.appendChild(row);
    count.value = n + 1;
    if (focus) { row.querySelector("input").focus(); }
  }

  add.hidden = false;
  add.addEventListener("click", function () { addRow(true); });
  form.addEventListener("input", function (event) {
    refresh();
    var row = event.target.closest && event.target.closest("tr.line");
    // typing into the last row opens a fresh one below it, so a clerk never runs out of rows
    if (row && row === body.lastElementChild && event.target.value) { addRow(false); }
  });
  form.addEventListener("keydown", function (event) {
    // Alt+N adds a line from anywhere in the form
    if (event.altKey && (event.key === "n" || event.key === "N")) { event.preventDefault(); addRow(true); }
  });
  refresh();
}());
