/* gatepass staff console: the phone menu and table cards (style.css, "Phones").
   Plain script, no build step, no library; the pages work without it (a phone then
   shows the whole menu and cards without headings). */
(function () {
  "use strict";

  // the phone menu: one button folds and unfolds the header's links and forms
  var header = document.getElementById("top");
  var toggle = document.getElementById("menu-toggle");
  if (header && toggle) {
    toggle.addEventListener("click", function () {
      var open = header.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // table cards: every cell gets its column's heading as data-label (colspans counted)
  function label(table) {
    if (!table.tHead || !table.tHead.rows.length) return;
    var heads = [];
    var cells = table.tHead.rows[0].cells;
    for (var i = 0; i < cells.length; i++) {
      var text = cells[i].textContent.replace(/\s+/g, " ").trim();
      for (var k = 0; k < (cells[i].colSpan || 1); k++) heads.push(k ? "" : text);
    }
    var bodies = Array.prototype.slice.call(table.tBodies);
    if (table.tFoot) bodies.push(table.tFoot);
    bodies.forEach(function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var col = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          var span = cell.colSpan || 1;
          if (!cell.hasAttribute("data-label")) cell.setAttribute("data-label", span > 1 ? "" : heads[col] || "");
          col += span;
        });
      });
    });
  }
  window.gatepassLabelTables = function (root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("main table"), label);
  };
  window.gatepassLabelTables();
})();
