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

/* Live alerts (views_console.live_alerts): the banner under the header of every staff
   page. Polls with If-None-Match (an unchanged set of open alerts is a 304), draws the
   open alerts with the DOM (text only, never HTML from data), beeps for an alert this
   browser has not seen yet, acknowledges from the banner (operators).

   Sound: Web Audio. Browsers refuse to start audio before the person has clicked, tapped
   or pressed a key on the page (autoplay policy), so the first gesture anywhere on the
   page unlocks it; until then the banner says sound is blocked and a beep that was due
   plays at the unlock. The mute choice is kept per browser (localStorage). */
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.fetch) return;
  var t = function (k) { return box.getAttribute("data-t-" + k) || k; };
  var store = {
    get: function (k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } },
    set: function (k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* private mode */ } }
  };
  var state = { etag: null, data: null, failed: false, beeps: 0, pending: false, timer: null, audio: null,
                polls: 0 };
  window.gatepassLive = state;  // read by the browser tests

  function muted() { return store.get("gatepass.mute") === "1"; }

  function unlock() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    if (!state.audio) state.audio = new AC();
    var done = function () {
      if (state.audio.state !== "running" || !state.pending) return;
      state.pending = false;
      beep();
      // drop the hint only: redrawing the banner here would replace the button this very
      // gesture may be about to click
      var hint = box.querySelector(".sound-hint");
      if (hint) hint.parentNode.removeChild(hint);
    };
    if (state.audio.state !== "running" && state.audio.resume) state.audio.resume().then(done, done);
    else done();
  }
  ["pointerdown", "keydown", "touchstart"].forEach(function (ev) {
    document.addEventListener(ev, unlock, { capture: true, passive: true });
  });

  function beep() {
    if (muted()) return;
    var ctx = state.audio;
    if (!ctx || ctx.state !== "running") { state.pending = true; render(); return; }
    // three short tones: loud enough for a guard room, short enough not to annoy
    var now = ctx.currentTime;
    for (var i = 0; i < 3; i++) {
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, now + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.25 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.25 + 0.2);
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(now + i * 0.25); osc.stop(now + i * 0.25 + 0.22);
    }
    state.beeps += 1;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function csrf() {
    var i = document.querySelector("input[name=csrfmiddlewaretoken]");
    return i ? i.value : "";
  }

  function ack(id, button) {
    button.disabled = true;
    var url = box.getAttribute("data-ack").replace(/\/0\/ack$/, "/" + id + "/ack");
    fetch(url, { method: "POST", credentials: "same-origin",
                 headers: { "X-CSRFToken": csrf(), "X-Requested-With": "fetch" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); state.etag = null; poll(); })
      .catch(function () { button.disabled = false; button.textContent = t("ack-failed"); });
  }

  function render() {
    var d = state.data;
    var open = d ? d.open : 0;
    box.textContent = "";
    if (!open && !state.failed) { box.hidden = true; return; }
    box.hidden = false;
    var bar = el("div", "live-bar");
    if (open) {
      var link = el("a", "live-count", t("open").replace("{n}", open));
      link.href = box.getAttribute("data-alerts");
      bar.appendChild(link);
    }
    if (state.failed) bar.appendChild(el("span", "live-offline-note", t("failed")));
    if (state.pending && !muted()) bar.appendChild(el("span", "sound-hint", t("blocked")));
    var mute = el("button", "live-mute", muted() ? t("sound-off") : t("sound-on"));
    mute.type = "button";
    mute.setAttribute("aria-pressed", muted() ? "true" : "false");
    mute.addEventListener("click", function () {
      store.set("gatepass.mute", muted() ? "0" : "1");
      if (muted()) state.pending = false;
      render();
    });
    bar.appendChild(mute);
    box.appendChild(bar);
    if (!d || !d.alerts.length) return;
    var ul = el("ul");
    d.alerts.forEach(function (a) {
      var li = el("li", "live-alert live-" + a.kind);
      li.setAttribute("data-alert", a.id);
      li.appendChild(el("span", "what", a.what));
      li.appendChild(el("span", "where", a.gate + (a.community && d.many ? " · " + a.community : "")));
      li.appendChild(el("span", "when", a.at));
      if (a.reason) li.appendChild(el("span", "reason", a.reason));
      if (a.body) li.appendChild(el("span", "body", a.body + " °C"));
      if (a.person) li.appendChild(el("span", "person", a.person));
      else if (a.pass) li.appendChild(el("code", "pass", a.pass));
      if (a.ack) {
        var b = el("button", "ack", t("ack"));
        b.type = "button";
        b.addEventListener("click", function () { ack(a.id, b); });
        li.appendChild(b);
      }
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }

  function schedule(s) {
    clearTimeout(state.timer);
    state.timer = setTimeout(poll, s * 1000);
  }

  function poll() {
    clearTimeout(state.timer);
    var headers = {};
    if (state.etag) headers["If-None-Match"] = state.etag;
    fetch(box.getAttribute("data-url"), { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (r) {
        state.polls += 1;
        if (r.status === 401 || r.status === 403) { state.failed = false; state.data = null; render(); return null; }
        if (r.status === 304) { if (state.failed) { state.failed = false; render(); } schedule(state.data ? state.data.poll_s : 5); return null; }
        if (!r.ok) throw new Error(r.status);
        state.etag = r.headers.get("ETag");
        return r.json();
      })
      .then(function (d) {
        if (!d) return;
        state.failed = false;
        var seen = parseInt(store.get("gatepass.live.top") || "0", 10);
        var fresh = d.alerts.some(function (a) { return a.id > seen; });
        if (d.top > seen) store.set("gatepass.live.top", String(d.top));
        var names = {};
        d.alerts.forEach(function (a) { names[a.community] = 1; });
        d.many = Object.keys(names).length > 1;
        state.data = d;
        if (fresh) beep();
        render();
        schedule(d.poll_s || 5);
      })
      .catch(function () { state.failed = true; render(); schedule(10); });
  }
  poll();
})();

/* Pages that stay live (board, alerts, devices: data-refresh seconds) reload their <main>
   and the nav's counts in place instead of reloading the document: the sound stays
   unlocked, the open menu stays open, and a field being typed in is not wiped (that
   round is skipped). Without script, a <noscript> meta refresh does the same. */
(function () {
  "use strict";
  var s = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!s || !window.fetch || !window.DOMParser) return;
  function typing() {
    var a = document.activeElement;
    return a && a.closest && a.closest("main") && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName);
  }
  function refresh() {
    if (typing()) { setTimeout(refresh, s * 1000); return; }
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.redirected && /\/login\//.test(r.url)) { window.location.reload(); return null; }
        if (!r.ok) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var main = doc.querySelector("main"), nav = doc.querySelector("#menu nav"),
            toggle = doc.querySelector("#menu-toggle");
        if (main && !typing()) {
          document.querySelector("main").innerHTML = main.innerHTML;
          if (window.gatepassLabelTables) window.gatepassLabelTables();
        }
        if (nav && document.querySelector("#menu nav")) document.querySelector("#menu nav").innerHTML = nav.innerHTML;
        var mine = document.getElementById("menu-toggle");
        if (toggle && mine) mine.innerHTML = toggle.innerHTML;
        document.dispatchEvent(new Event("gatepass:refreshed"));
      })
      .catch(function () { /* the live banner says when the server is unreachable */ })
      .then(function () { setTimeout(refresh, s * 1000); });
  }
  setTimeout(refresh, s * 1000);
})();
