// The pathsteer dashboard (DESIGN §11): plain JS over the daemon's own API, uPlot for graphs.
// Reads: /v1/status every second, /v1/wans/{name}/history (incremental, since_ms), the policy.
// Live: /v1/events/stream (server-sent events); when a stream cannot be held, /v1/events polled.
// Changes (intents, the dry run) send the bearer token the page asked for once; it is kept in
// this tab's sessionStorage only. Nothing is loaded from anywhere but this daemon.
"use strict";
(() => {
  const STATUS_MS = 1000, HISTORY_MS = 2000, MINUTES_MS = 30000, POLL_EVENTS_MS = 2000;
  const HOUR = 3600e3, DAY = 86400e3, MINUTE = 60e3;
  const TOKEN_KEY = "pathsteer.token";
  const EVENT_KINDS = ["path-state", "class-move", "overlay-move", "intent-added", "intent-deleted",
    "intent-expired", "policy-applied", "policy-rejected"];
  const STATE_ORDER = ["up", "degraded", "down", "unknown"];

  const S = {
    status: null, statusAt: 0, prev: null, startMs: 0, offlineSince: 0,
    rates: { classes: {}, wans: {} },
    events: [], lastEventId: 0, epoch: 0, seen: [],
    es: null, sseFailures: 0, mode: "connecting", pollingUntil: 0,
    hist: {}, range: "1h", charts: {}, wansKey: "", classesKey: "", intentsKey: "",
    policy: null, firstRender: false,
  };

  // ---- small helpers ------------------------------------------------------------------------

  const $ = (sel) => document.querySelector(sel);
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "style") Object.assign(e.style, v); // CSSOM: allowed by the page's CSP, a style attribute is not
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k.startsWith("data-")) e.dataset[k.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }
  const num = (v) => typeof v === "number" && Number.isFinite(v);
  function fmtMs(v) {
    if (!num(v)) return "–";
    return (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + " ms";
  }
  const fmtPct = (v) => (num(v) ? (v < 10 && v > 0 ? v.toFixed(1) : v.toFixed(0)) + " %" : "–");
  function fmtDur(ms) {
    if (!num(ms) || ms < 0) return "–";
    let s = Math.round(ms / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const hh = Math.floor(s / 3600); s -= hh * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d}d ${hh}h`;
    if (hh) return `${hh}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }
  function fmtSi(v, unit) {
    if (!num(v)) return "–";
    const steps = [[1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (const [f, p] of steps) if (v >= f) return `${(v / f).toFixed(v / f < 10 ? 2 : 1)} ${p}${unit}`;
    return `${v < 10 && v > 0 ? v.toFixed(1) : v.toFixed(0)} ${unit}`;
  }
  const fmtTime = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  function fmtWhen(ms) {
    const d = new Date(ms);
    const today = new Date().toDateString() === d.toDateString();
    return today ? fmtTime(ms) : d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + fmtTime(ms);
  }
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // ---- the API ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super(body?.error?.message || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  let tokenAsk = null;
  function askToken() {
    if (tokenAsk) return tokenAsk;
    const dlg = $("#token-dialog"), input = $("#token-input"), back = document.activeElement;
    input.value = "";
    tokenAsk = new Promise((resolve) => {
      dlg.addEventListener("close", () => {
        const t = dlg.returnValue === "ok" ? input.value.trim() : "";
        if (t) sessionStorage.setItem(TOKEN_KEY, t);
        tokenAsk = null;
        if (back && back.focus) back.focus();
        resolve(t || null);
      }, { once: true });
      dlg.returnValue = "";
      dlg.showModal();
      input.focus();
    });
    return tokenAsk;
  }

  async function api(method, path, body, { auth = false } = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = {};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (auth) {
        const t = sessionStorage.getItem(TOKEN_KEY) || (await askToken());
        if (!t) throw new Error("no token given: nothing was changed");
        headers.Authorization = "Bearer " + t;
      }
      const r = await fetch(path, {
        method, headers, cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = null; }
      if (r.status === 401 && auth && attempt === 0) {
        sessionStorage.removeItem(TOKEN_KEY); // wrong or stale: ask once more
        continue;
      }
      if (!r.ok) throw new ApiError(r.status, json);
      return json;
    }
  }

  // ---- status -------------------------------------------------------------------------------

  function rate(prev, cur, dt) {
    if (!prev || !num(prev.packets) || !num(cur.packets) || dt <= 0) return null;
    if (cur.packets < prev.packets || cur.bytes < prev.bytes) return null; // counters restarted
    return { pps: (cur.packets - prev.packets) / dt, bps: (cur.bytes - prev.bytes) / dt };
  }

  // Rates come from two counter readings at least 0.8 s apart (a status fetched early, after
  // an event, does not make a noisy rate).
  function takeStatus(st) {
    const now = performance.now();
    const startMs = Date.now() - st.uptime_s * 1000;
    const restarted = S.startMs && Math.abs(startMs - S.startMs) > 3000;
    if (restarted || !S.prev) {
      S.rates = { classes: {}, wans: {} };
      S.prev = st;
      S.statusAt = now;
    } else if (now - S.statusAt >= 800) {
      const dt = (now - S.statusAt) / 1000;
      const byName = (list) => Object.fromEntries((list || []).map((x) => [x.name, x]));
      const pc = byName(S.prev.classes), pw = byName(S.prev.wans);
      S.rates = { classes: {}, wans: {} };
      for (const c of st.classes) S.rates.classes[c.name] = rate(pc[c.name], c, dt);
      for (const w of st.wans) S.rates.wans[w.name] = rate(pw[w.name], w, dt);
      S.prev = st;
      S.statusAt = now;
    }
    S.status = st;
    S.startMs = startMs;
    return restarted;
  }

  async function refreshStatus() {
    let st;
    try {
      st = await api("GET", "/v1/status");
    } catch (e) {
      offline(e);
      return;
    }
    const wasOffline = S.offlineSince !== 0;
    S.offlineSince = 0;
    $("#banner").hidden = true;
    const restarted = takeStatus(st);
    if (restarted) onRestart();
    render();
    if (!S.firstRender) {
      S.firstRender = true;
      performance.mark("ps-first-render");
      document.body.dataset.ready = "status";
    }
    if (restarted || S.wansKey !== st.wans.map((w) => w.name).join()) {
      S.wansKey = st.wans.map((w) => w.name).join();
      await refreshHistory(true);
    }
    if (wasOffline || restarted || (!S.es && S.mode !== "polling")) connectEvents();
  }

  function offline(e) {
    if (!S.offlineSince) S.offlineSince = Date.now();
    setMode("offline");
    const b = $("#banner");
    b.hidden = false;
    b.textContent = `The daemon does not answer since ${fmtTime(S.offlineSince)} (${e.message || e}); retrying.`;
    if (S.es) { S.es.close(); S.es = null; }
  }

  function onRestart() {
    S.lastEventId = 0;
    S.epoch++;
    addEvents([{ id: 0, t_ms: S.startMs, kind: "restart", subject: "", from: "", to: "", reason: "", by: "" }]);
    if (S.es) { S.es.close(); S.es = null; }
    loadPolicy();
  }

  function setMode(m) {
    S.mode = m;
    const el = $("#link");
    el.dataset.mode = m;
    el.textContent = { live: "live", polling: "polling", offline: "daemon unreachable", connecting: "connecting…", paused: "paused (tab hidden)" }[m];
  }

  // ---- rendering: header, cards, classes, intents -------------------------------------------

  function render() {
    const st = S.status;
    if (!st) return;
    $("#f-version").textContent = st.version;
    $("#f-uptime").textContent = fmtDur(st.uptime_s * 1000);
    $("#f-generation").textContent = `generation ${st.policy_generation}`;
    const problems = (st.errors || []).length + (st.conflicts || []).length;
    $("#f-sync").textContent = (st.synced ? "in sync" : st.sync_state) + (problems ? ` · ${problems} problem(s)` : "");
    renderCards(st);
    renderClasses(st);
    renderIntents(st);
  }

  function renderCards(st) {
    const box = $("#uplinks");
    const cards = st.wans.map((w) => card(w));
    box.replaceChildren(...cards);
  }

  function card(w) {
    const r = S.rates.wans[w.name];
    const gw = [w.gateway4, w.gateway6].filter(Boolean).join(", ") || "none";
    const since = w.state_since_ms ? `since ${fmtWhen(w.state_since_ms)} (${fmtDur(Date.now() - w.state_since_ms)})` : "";
    const targets = w.targets || [];
    return h("article", { class: "card", "data-state": w.state, "data-wan": w.name, "aria-label": `uplink ${w.name}` },
      h("header", {},
        h("h3", { text: w.name }),
        h("span", { class: "iface", text: w.interface }),
        h("span", { class: "badge state", "data-state": w.state, text: w.state })),
      h("p", { class: "reason" }, h("span", { class: "why", text: w.reason || "—" }), " · ", since),
      h("dl", { class: "figures" },
        h("div", {}, h("dt", { text: "RTT" }), h("dd", { class: "rtt", text: fmtMs(w.rtt_ms) })),
        h("div", {}, h("dt", { text: "jitter" }), h("dd", { class: "jitter", text: fmtMs(w.jitter_ms) })),
        h("div", {}, h("dt", { text: "loss" }), h("dd", { class: "loss", text: fmtPct(w.loss_pct) }))),
      h("dl", { class: "meta" },
        h("dt", { text: "carrier" }), h("dd", { class: "carrier", text: w.carrier ? "yes" : "no" }),
        h("dt", { text: "gateway" }), h("dd", { text: gw }),
        h("dt", { text: "traffic" }), h("dd", { text: r ? `${fmtSi(r.pps, "pkt/s")} · ${fmtSi(r.bps, "B/s")}` : "–" }),
        h("dt", { text: "probes" }), h("dd", { text: `${w.received}/${w.sent} answered` })),
      targets.length > 1 ? h("table", { class: "grid targets", "aria-label": `probe targets of ${w.name}` },
        h("thead", {}, h("tr", {}, ["target", "method", "RTT", "jitter", "loss"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, targets.map((t) => h("tr", {},
          h("td", { class: "mono", text: t.target + (t.port ? `:${t.port}` : "") }), h("td", { text: t.method }),
          h("td", { class: "num", text: fmtMs(t.rtt_ms) }), h("td", { class: "num", text: fmtMs(t.jitter_ms) }),
          h("td", { class: "num", text: fmtPct(t.loss_pct) }))))) : null);
  }

  function slaText(sla) {
    if (!sla) return "";
    const parts = [];
    if (num(sla.max_rtt_ms)) parts.push(`rtt ≤ ${sla.max_rtt_ms} ms`);
    if (num(sla.max_jitter_ms)) parts.push(`jitter ≤ ${sla.max_jitter_ms} ms`);
    if (num(sla.max_loss_pct)) parts.push(`loss ≤ ${sla.max_loss_pct} %`);
    return parts.join(", ");
  }

  function renderClasses(st) {
    const rows = st.classes.map((c) => {
      const r = S.rates.classes[c.name];
      const sla = c.sla_met === null || c.sla_met === undefined ? null : c.sla_met ? "met" : "unmet";
      return h("tr", { "data-class": c.name },
        h("th", { scope: "row", text: c.name }),
        h("td", { text: c.strategy }),
        h("td", { class: "uplink", text: (c.uplink ?? "none") + (c.intent ? " (intent)" : "") }),
        h("td", { class: "reason", text: c.reason }),
        h("td", {}, sla ? h("span", { class: "badge", "data-sla": sla, text: sla }) : h("span", { class: "muted", text: "—" }),
          c.sla ? h("span", { class: "muted", text: " " + slaText(c.sla) }) : null),
        h("td", { class: "num", text: r ? fmtSi(r.pps, "") : "–" }),
        h("td", { class: "num", text: r ? fmtSi(r.bps, "B") : "–" }));
    });
    $("#classes tbody").replaceChildren(...rows);
    const foot = st.wans.map((w) => {
      const r = S.rates.wans[w.name];
      return h("tr", {}, h("td", { colspan: 5, text: `uplink ${w.name}` }),
        h("td", { class: "num", text: r ? fmtSi(r.pps, "") : "–" }), h("td", { class: "num", text: r ? fmtSi(r.bps, "B") : "–" }));
    });
    $("#classes tfoot").replaceChildren(...foot);
    const key = st.classes.map((c) => c.name).join();
    if (key !== S.classesKey) {
      S.classesKey = key;
      const sel = $("#i-class"), keep = sel.value;
      sel.replaceChildren(...st.classes.map((c) => h("option", { value: c.name, text: c.name })));
      if (keep) sel.value = keep;
      $("#i-paths").placeholder = st.wans.map((w) => w.name).reverse().join(", ");
    }
  }

  function renderIntents(st) {
    const list = st.intents || [];
    const rows = list.map((i) => h("tr", { "data-intent": i.id },
      h("td", { class: "mono", text: i.id }),
      h("td", { text: i.class }),
      h("td", { text: i.paths ? i.paths.join(" → ") : slaText(i.sla) }),
      h("td", { class: "wrap", text: i.comment || "" }),
      h("td", { text: `in ${fmtDur(i.expires_ms - Date.now())}` + (i.applies ? "" : " (does not apply)") }),
      h("td", {}, h("button", { type: "button", class: "remove", "aria-label": `Remove intent ${i.id}`, onclick: () => removeIntent(i.id), text: "Remove" }))));
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 6, class: "empty", text: "No intents: every class follows the policy." })));
    // Not rebuilt while a Remove button has the focus, unless the list itself changed.
    const key = JSON.stringify(list.map((i) => [i.id, i.applies]));
    if (key === S.intentsKey && document.activeElement?.closest?.("#intents")) return;
    S.intentsKey = key;
    $("#intents tbody").replaceChildren(...rows);
  }

  // ---- intents, explain, policy -------------------------------------------------------------

  async function addIntent(ev) {
    ev.preventDefault();
    const f = ev.target, msg = $("#intent-msg");
    const paths = f.paths.value.split(/[\s,]+/).filter(Boolean);
    const ttl = Number(f.ttl.value);
    if (!paths.length) { msg.className = "bad"; msg.textContent = "Name at least one path."; f.paths.focus(); return; }
    if (!Number.isInteger(ttl) || ttl < 1) { msg.className = "bad"; msg.textContent = "TTL must be a whole number of seconds ≥ 1."; f.ttl.focus(); return; }
    const body = { class: f.class.value, paths, ttl_s: ttl };
    if (f.comment.value.trim()) body.comment = f.comment.value.trim();
    msg.className = "";
    msg.textContent = "adding…";
    try {
      const it = await api("POST", "/v1/intents", body, { auth: true });
      msg.className = "ok";
      msg.textContent = `Added ${it.id}: ${it.class} → ${it.paths.join(", ")} for ${fmtDur(it.ttl_s * 1000)}.`;
      f.comment.value = "";
    } catch (e) {
      msg.className = "bad";
      msg.textContent = `Not added: ${e.message}`;
    }
    refreshStatus();
  }

  async function removeIntent(id) {
    const msg = $("#intent-msg");
    try {
      await api("DELETE", `/v1/intents/${encodeURIComponent(id)}`, undefined, { auth: true });
      msg.className = "ok";
      msg.textContent = `Removed ${id}.`;
    } catch (e) {
      msg.className = "bad";
      msg.textContent = `Not removed: ${e.message}`;
    }
    refreshStatus();
  }

  function answer(box, pairs, list) {
    box.replaceChildren(h("dl", {}, pairs.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])),
      list && list.length ? h("ul", {}, list.map((x) => h("li", { text: x }))) : null);
  }

  async function explain(ev) {
    ev.preventDefault();
    const f = ev.target, out = $("#explain-out");
    const q = { src: f.src.value.trim(), dst: f.dst.value.trim(), proto: f.proto.value };
    for (const k of ["sport", "dport"]) if (f[k].value !== "" && (q.proto === "tcp" || q.proto === "udp")) q[k] = Number(f[k].value);
    if (f.iif.value.trim()) q.iif = f.iif.value.trim();
    try {
      const a = await api("POST", "/v1/explain", q);
      answer(out, [["class", a.class ?? "none"], ["uplink", a.uplink ?? "none"], ["reason", a.reason ?? "–"],
        ["strategy", a.strategy ?? "–"], ["flow", a.flow], ["mark / table", `0x${a.mark.toString(16)} / ${a.table ?? "main"}`],
        ["action", a.action]], a.reasons);
    } catch (e) {
      out.replaceChildren(h("p", { class: "bad", text: e.message }));
    }
  }

  async function loadPolicy() {
    try {
      const p = await api("GET", "/v1/policy");
      S.policy = p;
      $("#policy-text").textContent = p.text;
      $("#policy-meta").textContent = `generation ${p.generation} · ${p.path}`;
      if (!$("#p-candidate").value) $("#p-candidate").value = p.text;
    } catch { /* shown by the status banner */ }
  }

  async function dryRun(ev) {
    ev.preventDefault();
    const out = $("#policy-out");
    out.replaceChildren(h("p", { text: "planning…" }));
    try {
      const c = await api("PUT", "/v1/policy?dry_run=true", { text: $("#p-candidate").value }, { auth: true });
      const d = c.diff, items = [];
      for (const x of d.classes) {
        const b = x.before ? `${x.before.uplink ?? "none"} (${x.before.reason})` : "";
        const a = x.after ? `${x.after.uplink ?? "none"} (${x.after.reason})` : "";
        items.push(h("li", { class: x.change === "removed" ? "diff-del" : "diff-add", text: `class ${x.class} ${x.change}: ${[b, a].filter(Boolean).join(" → ")}` }));
      }
      for (const [what, key] of [["rule", "rules"], ["route", "routes"]]) {
        for (const r of d[key].remove) items.push(h("li", { class: "diff-del mono", text: `− ${what} ${r}` }));
        for (const r of d[key].add) items.push(h("li", { class: "diff-add mono", text: `+ ${what} ${r}` }));
      }
      if (d.datapath_changed) items.push(h("li", { text: "the classifier's maps change" }));
      out.replaceChildren(h("p", { class: "ok", text: items.length ? "Valid. Applying it would change:" : "Valid. Applying it would change nothing." }),
        items.length ? h("ul", {}, items) : null);
    } catch (e) {
      const details = e.body?.error?.details || [];
      out.replaceChildren(h("p", { class: "bad", text: `Not valid: ${e.message}` }),
        details.length ? h("ul", {}, details.map((x) => h("li", { class: "mono", text: `${x.line}:${x.column}: ${x.message}` }))) : null);
    }
  }

  // ---- events and the timeline --------------------------------------------------------------

  // A hidden tab holds no stream: a browser keeps at most 6 connections to one host, and
  // each open stream takes one for good. Shown again, it resumes from the last event it had.
  function connectEvents() {
    if (S.es || document.hidden) return;
    if (!window.EventSource || Date.now() < S.pollingUntil) { setMode("polling"); return; }
    const es = new EventSource("/v1/events/stream" + (S.lastEventId ? `?since=${S.lastEventId}` : ""));
    S.es = es;
    let opened = false;
    es.onopen = () => { opened = true; S.sseFailures = 0; setMode("live"); };
    const on = (m) => {
      const e = JSON.parse(m.data);
      if (e.id <= S.lastEventId) return;
      addEvents([e]);
    };
    for (const k of EVENT_KINDS) es.addEventListener(k, on);
    es.onmessage = on;
    es.onerror = () => {
      // Reconnecting is ours (refreshStatus), so a restarted daemon is noticed before resuming.
      es.close();
      if (S.es === es) S.es = null;
      if (!opened && ++S.sseFailures >= 2 && !S.offlineSince) {
        S.pollingUntil = Date.now() + 30000; // the stream is refused (too many?): poll a while
        setMode("polling");
      }
    };
  }

  async function pollEvents() {
    if (S.mode !== "polling" || S.offlineSince) return;
    try {
      const r = await api("GET", `/v1/events?since=${S.lastEventId}`);
      addEvents(r.events);
    } catch { /* the status poll reports it */ }
    if (Date.now() >= S.pollingUntil) connectEvents();
  }

  function addEvents(list) {
    let stateChanged = false;
    for (const e of list) {
      if (e.kind !== "restart") {
        if (e.id <= S.lastEventId) continue;
        S.lastEventId = e.id;
        S.seen.push({ id: e.id, kind: e.kind, subject: e.subject, to: e.to, t_ms: e.t_ms, seen_ms: Date.now() });
        if (S.seen.length > 500) S.seen.shift();
      }
      S.events.push({ ...e, epoch: S.epoch });
      if (e.kind === "path-state" && S.status) {
        // Shown at once; the status that follows fills in the figures.
        const w = S.status.wans.find((x) => x.name === e.subject);
        if (w) { w.state = e.to; w.reason = e.reason; w.state_since_ms = e.t_ms; stateChanged = true; }
      }
      if (e.kind === "policy-applied") loadPolicy();
    }
    if (S.events.length > 1000) S.events.splice(0, S.events.length - 1000);
    if (stateChanged) renderCards(S.status);
    renderTimeline();
    if (list.length) soon(refreshStatus, 30);
  }

  const timers = {};
  function soon(fn, ms) {
    if (timers[fn.name]) return;
    timers[fn.name] = setTimeout(() => { timers[fn.name] = 0; fn(); }, ms);
  }

  function describe(e) {
    switch (e.kind) {
      case "path-state":
        return [h("span", { class: "subject", text: e.subject }), " ",
          h("span", { class: `ev-${e.to}`, text: e.to }), e.reason ? h("span", { class: "why", text: ` (${e.reason})` }) : null];
      case "class-move":
      case "overlay-move":
        return [`${e.subject} moved to ${e.to || "none"}`, h("span", { class: "why", text: ` (${e.reason}${e.from ? `, was ${e.from}` : ""})` })];
      case "intent-added": return [`intent ${e.subject} added for ${e.to}`];
      case "intent-deleted": return [`intent ${e.subject} removed from ${e.to}`];
      case "intent-expired": return [`intent ${e.subject} for ${e.to} expired`];
      case "policy-applied": return [`policy generation ${e.to} applied`];
      case "policy-rejected": return [h("span", { class: "bad", text: "policy rejected" }), h("span", { class: "why", text: ` (${e.reason})` })];
      case "restart": return [h("span", { class: "restart", text: "pathsteerd started again (the time before it is a gap in the graphs)" })];
      default: return [`${e.kind} ${e.subject}`];
    }
  }

  // A path's state change and the class moves that followed it within 2 s make one line:
  // "wan1 down (probes: 3 rounds lost) → default moved to wan2 (preferred-down)".
  function renderTimeline() {
    const groups = [];
    for (const e of S.events) {
      const last = groups[groups.length - 1];
      const follows = last && last.head.kind === "path-state" && (e.kind === "class-move" || e.kind === "overlay-move") &&
        e.epoch === last.head.epoch && e.t_ms - last.head.t_ms <= 2000;
      if (follows) last.moves.push(e);
      else groups.push({ head: e, moves: [] });
    }
    const items = groups.slice(-300).reverse().map((g) => {
      const parts = describe(g.head);
      for (const m of g.moves) parts.push(" → ", ...describe(m));
      if (g.head.by) parts.push(h("span", { class: "by", text: ` · by ${g.head.by}` }));
      return h("li", { "data-kind": g.head.kind, "data-subject": g.head.subject },
        h("time", { datetime: new Date(g.head.t_ms).toISOString(), text: fmtTime(g.head.t_ms) }), h("span", {}, parts));
    });
    if (!items.length) items.push(h("li", { class: "empty" }, h("time", { text: "" }), "No state changes or moves yet."));
    $("#timeline").replaceChildren(...items);
  }

  // ---- history and graphs -------------------------------------------------------------------

  async function fetchHistory(wan, res, since) {
    const q = `resolution=${res}` + (since ? `&since_ms=${since}` : "");
    return (await api("GET", `/v1/wans/${encodeURIComponent(wan)}/history?${q}`)).samples;
  }

  let historyBusy = false;
  async function refreshHistory(full) {
    if (!S.status || historyBusy) return;
    historyBusy = true;
    try {
      const now = Date.now();
      const names = S.status.wans.map((w) => w.name);
      for (const name of Object.keys(S.hist)) if (!names.includes(name)) delete S.hist[name];
      for (const name of names) {
        const hs = full || !S.hist[name] ? (S.hist[name] = { s: [], m: [], mAt: 0 }) : S.hist[name];
        const lastS = hs.s.length ? hs.s[hs.s.length - 1].t_ms : 0;
        hs.s.push(...(await fetchHistory(name, "1s", lastS)));
        while (hs.s.length && hs.s[0].t_ms < now - HOUR) hs.s.shift();
        if (full || now - hs.mAt >= MINUTES_MS) {
          // The newest minute is the one in progress: fetch it again with what came after.
          const since = hs.m.length ? hs.m[hs.m.length - 1].t_ms - 1 : 0;
          const fresh = await fetchHistory(name, "1m", since);
          hs.m = hs.m.filter((x) => x.t_ms <= since).concat(fresh);
          while (hs.m.length && hs.m[0].t_ms < now - DAY) hs.m.shift();
          hs.mAt = now;
        }
      }
      drawGraphs();
    } catch { /* offline: the status poll says so */ } finally {
      historyBusy = false;
    }
  }

  // The rows of one wan's graph in the window, with a null row wherever the daemon was down.
  // Last hour: the 1 s ring, which starts when the daemon starts; whole minutes before that
  // (kept across the restart) come from the 1 min ring, then a gap. Last 24 h: the 1 min ring,
  // a gap wherever minutes are missing.
  function rows(name, range) {
    const hs = S.hist[name];
    if (!hs) return [];
    const out = [];
    const push = (x, iv) => {
      const prev = out[out.length - 1];
      if (prev && (x.t_ms - prev.t_ms > Math.max(prev.iv, iv) * 2.5 || prev.iv !== iv)) {
        out.push({ t_ms: Math.round((prev.t_ms + x.t_ms) / 2), gap: true, iv, state: null, rtt_ms: null, jitter_ms: null, loss_pct: null });
      }
      out.push({ ...x, iv });
    };
    if (range === "1h") {
      const from = Date.now() - HOUR, firstS = hs.s.length ? hs.s[0].t_ms : Infinity;
      for (const m of hs.m) if (m.t_ms >= from - MINUTE && m.t_ms + MINUTE <= firstS) push(m, MINUTE);
      for (const x of hs.s) push(x, 1000);
    } else {
      const from = Date.now() - DAY;
      for (const m of hs.m) if (m.t_ms >= from) push(m, MINUTE);
    }
    return out;
  }

  function graphData(rs) {
    const t = [], rtt = [], lo = [], hi = [], loss = [];
    for (const r of rs) {
      t.push(r.t_ms / 1000);
      rtt.push(r.rtt_ms);
      const j = num(r.jitter_ms) ? r.jitter_ms : 0;
      lo.push(num(r.rtt_ms) ? Math.max(0, r.rtt_ms - j) : null);
      hi.push(num(r.rtt_ms) ? r.rtt_ms + j : null);
      loss.push(r.loss_pct);
    }
    return [t, rtt, lo, hi, loss];
  }

  // Thresholds drawn on a wan's graph: its degraded_if and every SLA class's limits.
  function thresholds(name) {
    const st = S.status, w = st?.wans.find((x) => x.name === name), out = [];
    if (!w) return out;
    const d = w.degraded_if || {};
    if (num(d.rtt_ms)) out.push({ scale: "ms", v: d.rtt_ms, label: `degraded: rtt > ${d.rtt_ms} ms`, color: "--thr", dash: [6, 4] });
    if (num(d.jitter_ms)) out.push({ scale: "ms", v: d.jitter_ms, label: `degraded: jitter > ${d.jitter_ms} ms`, color: "--thr", dash: [2, 3] });
    if (num(d.loss_pct)) out.push({ scale: "pct", v: d.loss_pct, label: `degraded: loss > ${d.loss_pct} %`, color: "--thr", dash: [6, 4] });
    for (const c of st.classes) {
      if (!c.sla) continue;
      if (num(c.sla.max_rtt_ms)) out.push({ scale: "ms", v: c.sla.max_rtt_ms, label: `${c.name} SLA: rtt ≤ ${c.sla.max_rtt_ms} ms`, color: "--sla", dash: [] });
      if (num(c.sla.max_loss_pct)) out.push({ scale: "pct", v: c.sla.max_loss_pct, label: `${c.name} SLA: loss ≤ ${c.sla.max_loss_pct} %`, color: "--sla", dash: [] });
    }
    return out;
  }

  function stateColor(s) {
    return cssVar({ up: "--up", degraded: "--deg", down: "--down" }[s] || "--unk-bg");
  }

  function makeChart(name, box) {
    const muted = cssVar("--muted"), line = cssVar("--line");
    const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 }, font: "11px system-ui, sans-serif" };
    const chart = { name, zoomed: false, rows: [], u: null, box };
    const opts = {
      width: Math.max(300, box.clientWidth), height: 190,
      padding: [8, 8, 14, 0],
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      scales: {
        x: { time: true },
        ms: {
          range: (u, min, max) => {
            let top = num(max) ? max : 1;
            for (const t of thresholds(name)) if (t.scale === "ms" && t.v <= Math.max(top, 1) * 4) top = Math.max(top, t.v);
            return [0, Math.max(1, top * 1.15)];
          },
        },
        pct: {
          range: (u, min, max) => {
            let top = Math.max(10, num(max) ? max : 0);
            for (const t of thresholds(name)) if (t.scale === "pct") top = Math.max(top, t.v);
            return [0, Math.min(100, top * 1.25)];
          },
        },
      },
      series: [
        {},
        { label: "RTT", scale: "ms", stroke: cssVar("--rtt"), width: 1.5, points: { show: false } },
        { label: "RTT − jitter", scale: "ms", stroke: "transparent", points: { show: false } },
        { label: "RTT + jitter", scale: "ms", stroke: "transparent", points: { show: false } },
        { label: "loss", scale: "pct", stroke: cssVar("--loss"), width: 1, points: { show: false }, paths: uPlot.paths.stepped({ align: 1 }) },
      ],
      bands: [{ series: [3, 2], fill: cssVar("--band") }],
      axes: [
        { ...axis },
        { ...axis, scale: "ms", size: 52, values: (u, vals) => vals.map((v) => v + " ms") },
        { ...axis, scale: "pct", side: 1, size: 44, grid: { show: false }, values: (u, vals) => vals.map((v) => v + " %") },
      ],
      hooks: {
        draw: [(u) => drawOverlay(u, chart)],
        setSelect: [(u) => { if (u.select.width > 0) chart.zoomed = true; }],
      },
    };
    chart.u = new uPlot(opts, [[], [], [], [], []], box);
    chart.u.over.addEventListener("dblclick", () => { chart.zoomed = false; });
    new ResizeObserver(() => {
      const wd = Math.max(300, box.clientWidth);
      if (Math.abs(wd - chart.u.width) > 2) chart.u.setSize({ width: wd, height: 190 });
    }).observe(box);
    return chart;
  }

  // The state strip along the bottom of the plot and the threshold lines with their labels.
  function drawOverlay(u, chart) {
    const ctx = u.ctx, { left, top, width, height } = u.bbox, dpr = devicePixelRatio || 1;
    const t = u.data[0], rs = chart.rows, strip = 5 * dpr;
    ctx.save();
    for (let i = 0; i < rs.length; i++) {
      if (rs[i].gap || !rs[i].state) continue;
      const x0 = Math.max(left, u.valToPos(t[i], "x", true));
      const next = i + 1 < rs.length ? t[i + 1] : t[i] + rs[i].iv / 1000;
      const x1 = Math.min(left + width, u.valToPos(next, "x", true));
      if (x1 <= left || x0 >= left + width) continue;
      ctx.fillStyle = stateColor(rs[i].state);
      ctx.fillRect(x0, top + height - strip, Math.max(1, x1 - x0), strip);
    }
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    for (const th of thresholds(chart.name)) {
      // Loss limits are labelled on the left, RTT limits on the right: they do not collide.
      const right = th.scale === "ms";
      ctx.textAlign = right ? "right" : "left";
      const lx = right ? left + width - 4 * dpr : left + 4 * dpr;
      const y = u.valToPos(th.v, th.scale, true);
      const color = cssVar(th.color);
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.setLineDash(th.dash.map((d) => d * dpr));
      ctx.lineWidth = dpr;
      if (y >= top && y <= top + height) {
        ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke();
        ctx.fillText(th.label, lx, y - 3 * dpr);
      } else if (y < top) {
        ctx.fillText(`▲ ${th.label}`, lx, top + 12 * dpr);
      }
    }
    ctx.restore();
  }

  function drawGraphs() {
    const st = S.status;
    if (!st) return;
    const box = $("#graphs");
    for (const name of Object.keys(S.charts)) {
      if (!st.wans.some((w) => w.name === name)) { S.charts[name].u.destroy(); S.charts[name].el.remove(); delete S.charts[name]; }
    }
    for (const w of st.wans) {
      let c = S.charts[w.name];
      if (!c) {
        const plot = h("div", { class: "plot", role: "img", "aria-label": `RTT, jitter, loss and state of ${w.name}` });
        const el = h("figure", { class: "graph", "data-wan": w.name },
          h("h3", {}, w.name, h("span", { class: "legend" },
            h("span", { class: "key rtt" }, "RTT ± jitter"), h("span", { class: "key loss" }, "loss"),
            h("span", { class: "key thr" }, "degraded if"), h("span", { class: "key sla" }, "class SLA"))),
          plot);
        box.append(el);
        c = S.charts[w.name] = makeChart(w.name, plot);
        c.el = el;
      }
      c.rows = rows(w.name, S.range);
      c.u.setData(graphData(c.rows), !c.zoomed);
      const pts = c.rows.filter((r) => !r.gap && num(r.rtt_ms)).length;
      c.el.dataset.points = pts;
      c.el.dataset.gaps = c.rows.filter((r) => r.gap).length;
    }
    renderAvailability();
  }

  // Time in each state per uplink over the window, from the same rows as the graphs.
  function renderAvailability() {
    const now = Date.now(), span = S.range === "1h" ? HOUR : DAY;
    const items = (S.status?.wans || []).map((w) => {
      const rs = rows(w.name, S.range);
      const from = Math.max(now - span, rs.length ? rs[0].t_ms : now);
      const segs = [], total = {};
      const add = (state, ms) => {
        if (ms <= 0) return;
        total[state] = (total[state] || 0) + ms;
        const last = segs[segs.length - 1];
        if (last && last.state === state) last.ms += ms; else segs.push({ state, ms });
      };
      for (let i = 0; i < rs.length; i++) {
        const r = rs[i];
        const start = Math.max(r.t_ms, from), end = i + 1 < rs.length ? rs[i + 1].t_ms : Math.min(now, r.t_ms + r.iv);
        add(r.gap ? "gap" : STATE_ORDER.includes(r.state) ? r.state : "unknown", end - start);
      }
      const whole = segs.reduce((a, s) => a + s.ms, 0) || 1;
      const names = { up: "online", degraded: "degraded", down: "offline", unknown: "unknown", gap: "daemon down" };
      const sum = Object.entries(total).map(([s, ms]) => `${names[s]} ${fmtDur(ms)}`).join(" · ") || "no samples yet";
      return h("div", { class: "avail", "data-wan": w.name },
        h("strong", { text: w.name }),
        h("div", { class: "bar", role: "img", "aria-label": `${w.name} over the window: ${sum}` },
          segs.map((s) => h("span", { class: `s-${s.state}`, style: { width: `${(100 * s.ms / whole).toFixed(3)}%` }, title: `${names[s.state]} ${fmtDur(s.ms)}` }))),
        h("span", { class: "sum", text: sum }));
    });
    $("#availability").replaceChildren(...items);
  }

  // ---- start --------------------------------------------------------------------------------

  function every(ms, fn) {
    const tick = async () => {
      try { await fn(); } finally { setTimeout(tick, ms); }
    };
    setTimeout(tick, ms);
  }

  // For tests and benchmarks (tests/ui/drive.mjs): what the page has drawn and seen.
  window.pathsteerDashboard = Object.freeze({
    rows: (name, range) => rows(name, range || S.range).map((r) => ({ t_ms: r.t_ms, gap: !!r.gap, state: r.state, rtt_ms: r.rtt_ms })),
    seen: () => S.seen.slice(),
    mode: () => S.mode,
    startMs: () => S.startMs,
  });

  document.addEventListener("DOMContentLoaded", async () => {
    $("#intent-form").addEventListener("submit", addIntent);
    $("#explain-form").addEventListener("submit", explain);
    $("#policy-form").addEventListener("submit", dryRun);
    $("#token-cancel").addEventListener("click", () => $("#token-dialog").close("cancel"));
    for (const r of document.querySelectorAll('input[name="range"]')) {
      r.addEventListener("change", () => {
        S.range = r.value;
        for (const c of Object.values(S.charts)) c.zoomed = false;
        drawGraphs();
      });
    }
    document.addEventListener("visibilitychange", () => {
      if (document.hidden && S.es) {
        S.es.close();
        S.es = null;
        setMode("paused");
      } else if (!document.hidden) {
        refreshStatus();
      }
    });
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      for (const c of Object.values(S.charts)) { c.u.destroy(); c.el.remove(); }
      S.charts = {};
      drawGraphs();
    });
    renderTimeline();
    loadPolicy();
    await refreshStatus();
    every(STATUS_MS, refreshStatus);
    every(HISTORY_MS, () => refreshHistory(false));
    every(POLL_EVENTS_MS, pollEvents);
  });
})();
