/* devbox live reload: injected into the app's HTML pages by devbox's proxy (devbox/live/).
   It listens to /__devbox/events: `reload` (the new code serves) reloads the page, `css` swaps the
   saved stylesheets without a reload, `failed` shows the error over the page until the next good
   save. Nothing here runs unless devbox served the page. */
(function () {
  "use strict";
  if (window.__devboxLive) { return; }
  var script = document.currentScript;
  var KEY = "devbox-live-seq";
  var seq = parseInt((script && script.getAttribute("data-seq")) || "0", 10) || 0;
  try {  // a page the browser took from its cache may carry an older number than the reload it came from
    var stored = parseInt(sessionStorage.getItem(KEY) || "0", 10) || 0;
    if (stored > seq) { seq = stored; }
  } catch (e) { /* storage refused: the number in the tag is enough */ }
  var live = window.__devboxLive = {seq: seq, messages: 0, failed: null, source: null};

  function remember(n) {
    try { sessionStorage.setItem(KEY, String(n)); } catch (e) { /* ignored */ }
  }

  function reload() {
    remember(live.seq);
    if (live.source) { live.source.close(); }
    window.location.reload();
  }

  function swapCss(paths) {
    var names = (paths || []).map(function (p) { return p.split("/").pop(); });
    var links = Array.prototype.slice.call(document.querySelectorAll('link[rel~="stylesheet"][href]'));
    var matching = links.filter(function (link) {
      var path = new URL(link.href, window.location.href).pathname;
      return names.some(function (name) { return path.split("/").pop() === name; });
    });
    (matching.length ? matching : links).forEach(function (link) {
      var url = new URL(link.href, window.location.href);
      url.searchParams.set("devbox-live", String(live.seq));
      var fresh = link.cloneNode();
      fresh.href = url.toString();
      fresh.onload = fresh.onerror = function () { if (link.parentNode) { link.parentNode.removeChild(link); } };
      link.parentNode.insertBefore(fresh, link.nextSibling);
    });
    remember(live.seq);
  }

  function overlay(m) {
    var box = document.getElementById("__devbox_overlay");
    if (!box) {
      box = document.createElement("div");
      box.id = "__devbox_overlay";
      box.setAttribute("style", "position:fixed;inset:0;z-index:2147483647;background:rgba(20,20,20,.92);" +
        "color:#f5f5f5;font:14px/1.45 ui-monospace,Menlo,Consolas,monospace;padding:32px;overflow:auto;" +
        "white-space:pre-wrap");
      (document.body || document.documentElement).appendChild(box);
    }
    box.textContent = "";
    var title = document.createElement("div");
    title.className = "devbox-summary";
    title.setAttribute("style", "font-size:18px;color:#ff8a80;margin-bottom:12px");
    title.textContent = m.summary || "the new code failed to load";
    var where = document.createElement("div");
    where.className = "devbox-where";
    where.textContent = m.file ? "File \"" + m.file + "\"" + (m.line ? ", line " + m.line : "") : "";
    var detail = document.createElement("pre");
    detail.className = "devbox-error";
    detail.setAttribute("style", "margin-top:16px;white-space:pre-wrap");
    detail.textContent = m.error || "";
    var hint = document.createElement("div");
    hint.setAttribute("style", "margin-top:16px;color:#aaa");
    hint.textContent = "devbox: this page reloads when you save a fix";
    [title, where, detail, hint].forEach(function (el) { box.appendChild(el); });
  }

  function handle(m) {
    live.seq = m.seq;
    live.messages += 1;
    if (m.kind === "failed") {
      live.failed = m;
      remember(live.seq);
      overlay(m);
    } else if (m.kind === "css" && !live.failed) {
      swapCss(m.paths);
    } else {
      reload();
    }
  }

  function connect() {
    var source = live.source = new EventSource("/__devbox/events?since=" + live.seq);
    source.onmessage = function (event) {
      var m = JSON.parse(event.data);
      if (m.seq > live.seq) { handle(m); }
    };
  }
  connect();
})();
