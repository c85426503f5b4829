// devbox dashboard: the agent's event stream (the records `devbox events` prints) made into a
// page. Everything shown is derived from those records, plus /api/status for the facts that are
// not events (image, pids, uptime). No dependencies, nothing loaded from elsewhere.
"use strict";
(() => {
  const MAX_RELOADS = 200, MAX_LINES = 3000, MAX_CAPTURE = 400, SPARK = 30;
  const $ = (id) => document.getElementById(id);
  const S = {
    project: "", agent: null, rows: [], compose: false, urls: {},
    svc: {},        // label -> {state, since, spark: [{ms, failed}]}
    errors: {},     // key -> {label, title, where, lines, hint, t}
    reloads: [],    // newest first
    capture: {},    // label -> the app's lines since its last (re)start: the traceback of a crash
    asked: {},      // label -> the action asked for on this page, until its result
    labels: new Set(), logService: "", filter: "", paused: false, held: [],
    replaying: true, agentKey: null, lastSeq: 0,
  };

  // -- small DOM helpers ------------------------------------------------------------------------
  function h(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "style") node.style.cssText = v;  // through the CSSOM: the CSP refuses style attributes
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  const svgNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs) {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  const clock = (t) => new Date(t * 1000).toLocaleTimeString([], {hour12: false});
  const ms = (v) => v === null || v === undefined ? "" : v >= 10000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms";
  function ago(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    if (seconds < 90) return Math.max(0, Math.round(seconds)) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }
  const shown = (label) => label || "app";
  const colour = (label) => { let n = 0; for (const c of label) n = (n * 31 + c.charCodeAt(0)) % 6; return "c" + n; };
  function describe(paths) {
    if (!paths || !paths.length) return null;
    return paths.length <= 2 ? paths.join(", ") : `${paths.slice(0, 2).join(", ")} +${paths.length - 2} more`;
  }
  const svc = (label) => (S.svc[label] = S.svc[label] || {state: null, spark: []});

  // -- tracebacks: the project's own frames first -------------------------------------------------
  const LIBRARY = /(site-packages|dist-packages|\/lib\/python[0-9.]*\/|^<|<frozen |\/opt\/devbox\/|\/devbox\/supervisor\/)/;
  function traceback(lines) {
    let start = -1;
    for (let i = lines.length - 1; i >= 0; i--) if (/^Traceback \(most recent call last\):/.test(lines[i])) { start = i; break; }
    if (start < 0) return null;
    const body = lines.slice(start), frames = [], tail = [];
    for (let i = 1; i < body.length; i++) {
      const m = /^\s*File "([^"]+)", line (\d+)(?:, in (.*))?$/.exec(body[i]);
      if (m) {
        const code = [];
        while (i + 1 < body.length && /^\s{4,}/.test(body[i + 1]) && !/^\s*File "/.test(body[i + 1])) code.push(body[++i]);
        frames.push({file: m[1], line: m[2], fn: m[3] || "", code, project: !LIBRARY.test(m[1])});
      } else if (body[i].trim()) tail.push(body[i]);
    }
    return {frames, tail, all: body};
  }

  // -- the records ------------------------------------------------------------------------------
  function setError(key, label, err) { S.errors[key] = Object.assign({label, t: Date.now() / 1000}, err); dirty.errors = true; }
  function clearError(key) { if (S.errors[key]) { delete S.errors[key]; dirty.errors = true; } }
  function clearLabel(label, kinds) { for (const k of kinds) clearError(k + ":" + label); }

  function addReload(rec, label, action, extra) {
    const asked = S.asked[label];
    const paths = describe(rec.paths);
    if (asked === "rebuild" && action === "reload") { action = "rebuild"; extra = Object.assign({note: "image unchanged"}, extra); }
    const row = Object.assign({t: rec.t, seq: rec.seq, label, action,
      trigger: paths || (asked ? `${asked} button` : "requested"), byHand: !paths, fresh: !S.replaying}, extra);
    delete S.asked[label];
    S.reloads.unshift(row);
    S.reloads.length = Math.min(S.reloads.length, MAX_RELOADS);
    if (row.ms !== undefined) {
      svc(label).last = {t: row.t, ms: row.ms, failed: !!row.failed};
      const spark = svc(label).spark;
      spark.push({ms: row.ms, failed: !!row.failed});
      if (spark.length > SPARK) spark.shift();
    }
    dirty.reloads = dirty.services = true;
  }

  function state(label, value) { svc(label).state = value; dirty.services = true; }

  const HANDLERS = {
    line(r, label) {
      const cap = (S.capture[label] = S.capture[label] || []);
      cap.push(r.line);
      if (cap.length > MAX_CAPTURE) cap.shift();
      log(r, label, r.line, false);
    },
    supervisor(r, label) {
      if (r.kind === "started" || r.kind === "reloading") { S.capture[label] = []; state(label, r.kind === "started" ? "starting" : "reloading"); }
      else if (r.kind === "ready") { state(label, "serving"); clearLabel(label, ["app", "action", "container"]); }
      else if (r.kind === "crashed") {
        state(label, "crashed");
        const where = r.file ? `${r.file}${r.line ? ":" + r.line : ""}` : "";
        setError("app:" + label, label, {title: r.error || r.summary || `the app exited with status ${r.status}`, where,
          tb: traceback(S.capture[label] || []), hint: "The app shows its error page until the next save; devbox reloads it then."});
        devlog(r, label, `✗ ${r.summary || "the app crashed"}`, true);
      } else if (r.kind === "stopping" || r.kind === "stopped") state(label, r.kind === "stopping" ? "stopping" : "stopped");
    },
    reloaded(r, label) {
      addReload(r, label, "reload", {ms: r.ms, stages: [r.batch_ms, r.signal_ms, r.supervisor_ms, r.log_ms]});
      devlog(r, label, `↻ ${describe(r.paths) || "requested"} -> reloaded in ${ms(r.ms)}`);
    },
    reload_failed(r, label) { addReload(r, label, "reload", {ms: r.ms, failed: true, note: r.summary, stages: [r.batch_ms, r.signal_ms, r.supervisor_ms, r.log_ms]}); },
    reload_timeout(r, label) {
      addReload(r, label, "reload", {failed: true, note: `no new child within ${r.seconds} s`});
      setError("action:" + label, label, {title: `no new child answered within ${r.seconds} s of the reload`, hint: "See the logs below."});
    },
    synced(r, label) { addReload(r, label, "sync", {note: "no restart"}); devlog(r, label, `~ ${describe(r.paths)} synced (no restart)`); clearLabel(label, ["action"]); },
    rebuilding(r, label) { state(label, "rebuilding"); S.rebuildPaths = S.rebuildPaths || {}; S.rebuildPaths[label] = r.paths; devlog(r, label, "⚙ rebuilding the image"); },
    rebuilt(r, label) {
      addReload(Object.assign({}, r, {paths: (S.rebuildPaths || {})[label] || []}), label, "rebuild", {ms: r.seconds * 1000, note: "container recreated"});
      clearLabel(label, ["action"]); devlog(r, label, `image rebuilt in ${r.seconds.toFixed(1)} s, container recreated`);
    },
    rebuild_unchanged(r, label) { devlog(r, label, `image unchanged (${r.seconds.toFixed(1)} s); reloading`); },
    container_restarted(r, label) {
      if (S.asked[label] === "restart") addReload(r, label, "restart", {ms: r.seconds * 1000, note: "new supervisor"});
      state(label, "serving"); clearLabel(label, ["container"]);
      devlog(r, label, `container ${r.name} started again in ${r.seconds.toFixed(1)} s`);
    },
    container_stopped(r, label) {
      state(label, "stopped");
      setError("container:" + label, label, {title: `container ${r.name} stopped underneath devbox`, where: r.reason, hint: "devbox starts it again."});
    },
    container_down(r, label) {
      state(label, "stopped");
      setError("container:" + label, label, {title: `container ${r.name} is down`, where: r.reason, hint: "Save a file (or press Restart) to start it again."});
    },
    action_failed(r, label) { setError("action:" + label, label, {title: r.error, where: describe(r.paths) || "", hint: "The watch goes on: the next save tries again."}); },
    sync_failed(r, label) { setError("action:" + label, label, {title: `copying failed: ${r.error}`, where: describe(r.paths) || "", hint: "The next save tries again."}); },
    config_invalid(r) { setError("config:", "", {title: r.error, hint: "The previous configuration still runs."}); },
    config_applied() { clearError("config:"); },
    config_unchanged() { clearError("config:"); },
    config_restart(r) { setError("config:", "", {title: `devbox.yml changed (${r.reason})`, hint: "Restart devbox to apply it."}); },
    engine_lost(r) { setError("engine:", "", {title: `the Docker engine at ${r.url} stopped answering`, where: r.error, hint: "devbox keeps watching and waits for it."}); },
    engine_back() { clearError("engine:"); },
    dashboard_action(r, label) { S.asked[label] = r.action; devlog(r, label, `${r.action} asked for on the dashboard`); },
    project_up(r) { S.urls = r.urls || {}; S.compose = !(Object.keys(S.urls).length === 1 && "" in S.urls); dirty.services = true; refresh(); },
    agent_failed(r) { setError("agent:", "", {title: r.error, hint: "The agent could not serve the project and exits."}); },
    agent_stopped() { live("gone", "agent stopped"); },
  };
  const REFRESH = new Set(["project_up", "container_restarted", "container_started", "container_exited", "rebuilt", "config_applied", "supervisor"]);

  function apply(rec) {
    if (rec.seq <= S.lastSeq) return;
    S.lastSeq = rec.seq;
    const label = rec.service || "";
    if (rec.service) S.labels.add(rec.service);
    const handler = HANDLERS[rec.event];
    if (handler) handler(rec, label);
    if (REFRESH.has(rec.event) && !S.replaying) refreshSoon();
    schedule();
  }

  // -- logs -------------------------------------------------------------------------------------
  const logs = $("logs");
  function log(rec, label, text, devbox, bad) {
    const line = h("div", {class: "l" + (devbox ? " devbox" : "") + (bad ? " bad" : ""), "data-svc": label},
      h("span", {class: "t", text: clock(rec.t)}),
      h("span", {class: "svc " + (devbox ? "" : colour(shown(label))), text: devbox ? (label ? `devbox ${label}` : "devbox") : shown(label)}),
      h("span", {class: "msg", text}));
    line.dataset.text = (shown(label) + " " + text).toLowerCase();
    if (!visible(line)) line.classList.add("hidden");
    if (S.paused) { S.held.push(line); pauseLabel(); return; }
    append([line]);
  }
  function devlog(rec, label, text, bad) { log(rec, label, text, true, bad); }
  function append(lines) {
    const atBottom = logs.scrollHeight - logs.scrollTop - logs.clientHeight < 40;
    logs.append(...lines);
    while (logs.childElementCount > MAX_LINES) logs.firstElementChild.remove();
    if (atBottom) logs.scrollTop = logs.scrollHeight;
  }
  function visible(line) {
    return (!S.logService || line.dataset.svc === S.logService) && (!S.filter || line.dataset.text.includes(S.filter));
  }
  function refilter() {
    for (const line of logs.children) line.classList.toggle("hidden", !visible(line));
    logs.scrollTop = logs.scrollHeight;
  }
  function pauseLabel() {
    const b = $("log-pause");
    b.textContent = S.paused ? (S.held.length ? `resume (${S.held.length} new)` : "resume") : "pause";
    b.setAttribute("aria-pressed", String(S.paused));
  }
  $("log-filter").addEventListener("input", (e) => { S.filter = e.target.value.trim().toLowerCase(); refilter(); });
  $("log-pause").addEventListener("click", () => {
    S.paused = !S.paused;
    if (!S.paused && S.held.length) { append(S.held); S.held = []; }
    pauseLabel();
  });
  function renderTabs() {
    const tabs = $("log-tabs");
    const labels = S.compose ? [...new Set([...S.rows.map((r) => r.name), ...S.labels])] : [];
    const want = ["", ...labels];
    if (tabs.dataset.labels === want.join("\n")) return;
    tabs.dataset.labels = want.join("\n");
    tabs.replaceChildren(...want.map((label) => h("button", {type: "button", class: "tab", role: "tab",
      "aria-selected": String(label === S.logService), text: label || "all",
      onclick: () => { S.logService = label; tabs.dataset.labels = ""; renderTabs(); refilter(); }})));
  }

  // -- rendering --------------------------------------------------------------------------------
  const dirty = {errors: false, services: false, reloads: false};
  let frame = 0;
  function schedule() { if (!frame) frame = requestAnimationFrame(render); }
  function render() {
    frame = 0;
    if (dirty.errors) renderErrors();
    if (dirty.services) renderServices();
    if (dirty.reloads) renderReloads();
    dirty.errors = dirty.services = dirty.reloads = false;
  }

  function frameText(f) { return [`${f.file}:${f.line}${f.fn ? " in " + f.fn : ""}`, ...f.code].join("\n"); }
  function renderErrors() {
    const box = $("errors");
    const errors = Object.values(S.errors).sort((a, b) => b.t - a.t);
    box.hidden = !errors.length;
    document.title = `${errors.length ? "✗ " : ""}${S.project} · devbox`;
    box.replaceChildren(...errors.map((e) => {
      const tb = e.tb;
      let detail = null;
      if (tb) {
        // The project's frames (most recent last) and the exception; the rest behind a click.
        const mine = tb.frames.filter((f) => f.project), rest = tb.frames.filter((f) => !f.project);
        const pre = h("pre", {class: "tb"});
        for (const f of mine) pre.append(h("span", {class: "frame-project", text: frameText(f) + "\n"}));
        pre.append(h("span", {class: "exc", text: tb.tail.join("\n")}));
        detail = [pre, h("details", {}, h("summary", {text: rest.length ? `the whole traceback (${rest.length} more frames outside the project)`
          : "the whole traceback, as Python printed it"}), h("pre", {text: tb.all.join("\n")}))];
      }
      return h("article", {class: "error", "data-key": e.label},
        h("div", {class: "head"},
          h("span", {class: "title", text: `✗ ${e.label ? e.label + ": " : ""}${e.title}`}),
          e.where ? h("span", {class: "where", text: e.where}) : null,
          h("span", {class: "when", text: clock(e.t)})),
        detail, e.hint ? h("p", {class: "hint", text: e.hint}) : null);
    }));
  }

  function startedAgo(iso) {
    if (!iso) return null;
    const t = Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
    return isNaN(t) ? null : (Date.now() - t) / 1000;
  }
  function spark(points) {
    // A bar per reload, newest on the right, the slowest full height: a slow one stands out.
    const w = SPARK * 8, hgt = 28, svg = s("svg", {class: "spark", viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "xMaxYMid meet",
      role: "img", "aria-label": points.length ? `last ${points.length} reloads, ${points.map((p) => ms(p.ms)).join(", ")}` : "no reloads yet"});
    const max = Math.max(...points.map((p) => p.ms || 0), 1);
    svg.append(s("line", {class: "base", x1: 0, x2: w, y1: hgt - 0.5, y2: hgt - 0.5}));
    points.forEach((p, i) => {
      const bh = Math.max(2, ((p.ms || 0) / max) * (hgt - 2));
      const x = w - (points.length - i) * 8 + 1;
      svg.append(s("rect", {class: p.failed ? "failed" : "ok", x, y: hgt - bh, width: 6, height: bh, rx: 1}));
    });
    return svg;
  }
  function act(action, row, button) {
    button.disabled = true;
    fetch("/api/act", {method: "POST", headers: {"Content-Type": "application/json"}, credentials: "same-origin",
      body: JSON.stringify({action, service: row.name})})
      .then((r) => r.json().then((body) => { if (!body.ok) alert(body.error); }))
      .catch((err) => alert(`devbox did not answer: ${err}`))
      .finally(() => setTimeout(() => { button.disabled = false; }, 600));
  }
  // A service's buttons are made once and moved into each new rendering of its card, so a
  // click never lands on a button that a re-render has just replaced.
  const buttonSets = {};
  function buttonsOf(name) {
    return (buttonSets[name] = buttonSets[name] || h("div", {class: "actions"},
      ...[["reload", "Reload", "primary"], ["rebuild", "Rebuild", ""], ["restart", "Restart", ""]].map(([a, text, cls]) =>
        h("button", {type: "button", class: `btn ${cls}`, "data-action": a, title: `${a} ${name}`, text,
          onclick: (e) => act(a, {name}, e.currentTarget)}))));
  }
  function renderServices() {
    const box = $("services");
    if (!S.rows.length) { box.replaceChildren(h("p", {class: "empty", text: "waiting for the agent to start the project…"})); return; }
    const old = {};
    for (const card of box.querySelectorAll(".service")) old[card.dataset.service] = card;
    const cards = S.rows.map((row) => {
      const label = S.compose ? row.name : "";
      const known = S.svc[label] || {spark: []};
      const sup = row.supervisor || {};
      const st = row.state !== "running" ? row.state : (row.supervised === false ? "running" : known.state || sup.state || "running");
      const url = (row.urls || [])[0];
      const supervised = row.supervised !== false;
      const p50 = row.reload_p50_ms;
      const facts = [
        ["image", row.image], ["container", row.container],
        supervised ? ["pids", sup.supervisor_pid ? `supervisor ${sup.supervisor_pid}` + (sup.child_pid ? ` · app ${sup.child_pid}` : "") : "–"] : null,
        ["uptime", h("span", {class: "uptime", "data-started": row.started_at || "", text: row.running ? ago(startedAgo(row.started_at)) : "–"})],
        supervised && known.last ? ["last", h("span", {class: "last-reload", "data-t": known.last.t,
          text: `${ago(Date.now() / 1000 - known.last.t)} ago · ${ms(known.last.ms)}${known.last.failed ? " · failed" : ""}`})] : null,
        supervised ? ["reloads", `${row.reloads || 0}` + (p50 !== null && p50 !== undefined ? ` · p50 ${ms(p50)}` : "") + (sup.generation ? ` · generation ${sup.generation}` : "")] : null,
      ].filter(Boolean);
      const note = supervised ? null : h("p", {class: "empty", text: "runs as compose runs it (not supervised)"});
      const card = h("article", {class: `service ${st}`, "data-service": row.name},
        h("div", {class: "row1"}, h("button", {type: "button", class: "name", title: `only ${row.name}'s logs`, "data-logs": S.compose ? row.name : "", text: row.name}),
          h("span", {class: `badge ${st}`, text: st})),
        url ? h("a", {class: "url", href: url, target: "_blank", rel: "noopener noreferrer", text: url}) : h("span", {class: "url empty", text: "no published port"}),
        h("dl", {class: "facts"}, ...facts.flatMap(([k, v]) => [h("dt", {text: k}), h("dd", {}, v)])),
        supervised ? spark(known.spark) : null, note);
      const sig = card.outerHTML, was = old[row.name];
      if (was && was.dataset.sig === sig) return was;  // unchanged: left as it is
      card.dataset.sig = sig;
      if (supervised) card.append(buttonsOf(row.name));
      return card;
    });
    const current = [...box.children];
    if (cards.length !== current.length || cards.some((c, i) => c !== current[i])) box.replaceChildren(...cards);
    renderTabs();
  }

  function renderReloads() {
    const body = $("reloads");
    if (!S.reloads.length) return;
    // Slow: more than twice (and 100 ms over) the median of the same service's reloads.
    const medians = {};
    for (const r of S.reloads) if (r.ms !== undefined && r.action === "reload" && !r.failed) (medians[r.label] = medians[r.label] || []).push(r.ms);
    for (const [k, v] of Object.entries(medians)) { v.sort((a, b) => a - b); medians[k] = v.length >= 3 ? v[Math.floor(v.length / 2)] : null; }
    const scale = Math.max(...S.reloads.slice(0, 50).filter((r) => r.action === "reload").map((r) => r.ms || 0), 1);
    body.replaceChildren(...S.reloads.slice(0, 100).map((r) => {
      const median = medians[r.label];
      const slow = r.action === "reload" && !r.failed && median && r.ms > Math.max(2 * median, median + 100);
      let bar = null;
      if (r.stages && r.stages.some((v) => v)) {
        const names = ["batch", "signal", "respawn", "log"], labels = ["save → batch", "→ signal", "→ ready", "ready → seen"];
        bar = h("div", {class: "bar", title: r.stages.map((v, i) => `${labels[i]} ${ms(v || 0)}`).join(" · ")},
          ...r.stages.map((v, i) => h("span", {class: `s-${names[i]}`, style: `width:${(100 * Math.max(0, v || 0) / scale).toFixed(2)}%`})));
      } else if (r.ms !== undefined && r.action === "reload") {
        bar = h("div", {class: "bar"}, h("span", {class: "s-respawn", style: `width:${(100 * r.ms / scale).toFixed(2)}%`}));
      }
      const tr = h("tr", {class: [r.failed ? "failed" : "", slow ? "slow" : "", r.fresh ? "fresh" : ""].join(" ").trim() || null, "data-seq": r.seq},
        h("td", {class: "when hide-narrow", text: clock(r.t)}),
        h("td", {}, h("span", {class: `tag ${colour(shown(r.label))}`, text: shown(r.label)})),
        h("td", {class: "trigger"}, ...r.trigger.split("/").flatMap((part, i) => i ? ["/", h("wbr"), part] : [part])),
        h("td", {class: "act hide-narrow", text: r.failed ? `${r.action} failed` : r.action}),
        h("td", {class: "num", text: r.ms !== undefined ? ms(r.ms) : "–"}),
        h("td", {}, bar || h("span", {class: "empty", text: r.note || ""})));
      r.fresh = false;
      return tr;
    }));
  }

  function renderAgent() {
    const a = S.agent;
    $("project").textContent = S.project || "";
    document.title = `${Object.keys(S.errors).length ? "✗ " : ""}${S.project} · devbox`;
    if (!a) return;
    const parts = [h("span", {}, "agent pid ", h("b", {text: a.pid})), ` · up ${ago(Date.now() / 1000 - a.started_at)}`,
      ` · reloads ${a.reloads}` + (a.reload_p50_ms !== null && a.reload_p50_ms !== undefined ? ` (p50 ${ms(a.reload_p50_ms)})` : "")];
    if (a.engine) parts.push(` · engine ${a.engine}`);
    $("agent").replaceChildren(...parts);
  }

  // -- status -----------------------------------------------------------------------------------
  let refreshTimer = 0;
  function refreshSoon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 250); }
  function refresh() {
    return fetch("/api/status", {credentials: "same-origin"}).then((r) => r.ok ? r.json() : null).then((st) => {
      if (!st) return;
      S.project = st.project || S.project;
      S.agent = st.agent;
      S.rows = st.containers || [];
      if (S.rows.some((r) => r.supervised !== null && r.supervised !== undefined)) S.compose = true;
      for (const row of S.rows) {  // a crash older than the records the agent keeps: still pinned
        const label = S.compose ? row.name : "";
        if (row.crashed && !S.errors["app:" + label]) {
          setError("app:" + label, label, {title: "the app failed to load", hint: "`devbox logs` shows why; devbox reloads it at the next save."});
        }
      }
      renderAgent();
      dirty.services = true;
      schedule();
    }).catch(() => {});
  }
  $("services").addEventListener("click", (e) => {  // a service's name: its logs only
    const name = e.target.closest("button.name");
    if (!name) return;
    S.logService = name.dataset.logs; $("log-tabs").dataset.labels = ""; renderTabs(); refilter();
    $("logs").scrollIntoView({behavior: "smooth", block: "nearest"});
  });
  setInterval(() => {
    for (const node of document.querySelectorAll(".uptime[data-started]")) if (node.dataset.started) node.textContent = ago(startedAgo(node.dataset.started));
    for (const node of document.querySelectorAll(".last-reload[data-t]")) {
      node.textContent = node.textContent.replace(/^.*? ago/, `${ago(Date.now() / 1000 - Number(node.dataset.t))} ago`);
    }
    renderAgent();
  }, 1000);
  setInterval(refresh, 10000);

  // -- the stream -------------------------------------------------------------------------------
  function live(st, text) { const b = $("live"); b.dataset.state = st; $("live-text").textContent = text; }
  function connect() {
    const stream = new EventSource(`/events?since=${S.lastSeq}`);
    let replayTimer = 0;
    stream.addEventListener("hello", (e) => {
      const hello = JSON.parse(e.data), key = `${hello.pid}:${hello.started_at}`;
      if (S.agentKey && S.agentKey !== key) { location.reload(); return; }
      S.agentKey = key; S.project = hello.project || S.project;
      live("live", "live");
      // The records kept come at once: the page shows them as history, then as they happen.
      clearTimeout(replayTimer);
      replayTimer = setTimeout(() => { S.replaying = false; }, 300);
    });
    stream.onmessage = (e) => apply(JSON.parse(e.data));
    stream.onerror = () => {
      if ($("live").dataset.state === "gone") { stream.close(); return; }
      live("connecting", "reconnecting…");
    };
  }
  pauseLabel();
  refresh().then(connect);
})();
