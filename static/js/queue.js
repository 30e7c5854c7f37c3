/* The staff queue (templates/requests_app/staff/queue.html): keyboard navigation and
   "select all". The page works fully without this file.

   j / k   move the focus to the next / previous request (its reference link, so the
           focus ring shows and Enter opens it, as any link);
   x       ticks the focused request for bulk assignment (approvers and admins).
   Keys are left alone while typing in a field, and with Ctrl, Alt or Meta held. */
(function () {
  "use strict";
  var table = document.querySelector("table.triage");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr.queue-row"));
  var hint = document.querySelector(".keyboard-hint");
  if (hint && rows.length) { hint.hidden = false; }

  function typing(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "select" || tag === "textarea" || target.isContentEditable;
  }

  function currentIndex() {
    var active = document.activeElement;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].contains(active) || rows[i].classList.contains("current")) { return i; }
    }
    return -1;
  }

  function focusRow(index) {
    if (index < 0 || index >= rows.length) { return; }
    rows.forEach(function (row) { row.classList.remove("current"); });
    var row = rows[index];
    row.classList.add("current");
    var link = row.querySelector("a.row-link");
    if (link) { link.focus(); }
    row.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) { return; }
    var index = currentIndex();
    if (event.key === "j") {
      focusRow(Math.min(index + 1, rows.length - 1));
      event.preventDefault();
    } else if (event.key === "k") {
      focusRow(index < 0 ? 0 : Math.max(index - 1, 0));
      event.preventDefault();
    } else if (event.key === "x" && index >= 0) {
      var box = rows[index].querySelector("input[name=requests]");
      if (box) { box.checked = !box.checked; event.preventDefault(); }
    }
  });

  table.addEventListener("focusin", function (event) {
    rows.forEach(function (row) { row.classList.toggle("current", row.contains(event.target)); });
  });

  var all = table.querySelector("input.select-all");
  if (all) {
    var boxes = table.querySelectorAll("input[name=requests]");
    all.hidden = boxes.length === 0;
    all.addEventListener("change", function () {
      Array.prototype.forEach.call(boxes, function (box) { box.checked = all.checked; });
    });
  }
})();
