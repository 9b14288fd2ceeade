// posbridge cashier page: plain JS, no framework, no build step.
// State comes from /api/v1 and the event stream (/api/v1/events?since=SEQ);
// after a cut it reconnects with the last seq it saw and misses nothing.
// With ?view=second it is a read-only second screen: the same state, no
// actions.
"use strict";

// This file: the state, the API calls, money and time, the event stream and
// the health check. The words are in i18n.js; drawing the page and the
// cashier's actions in render.js.

// isQR reports whether p is paid on the customer's phone (a QR lane's).
function isQR(p) { return !!p && !!p.payment_expires_at; }

// The QR code of the current payment: shown while it is open, with the
// amount and a countdown to its expiry. Only the gateway's answer (an
// event) turns the page to paid; the customer's phone proves nothing.
function renderQR(p) {
  const on = isQR(p) && !!p.payment_url && OPEN.includes(p.status);
  show("qr", on);
  $("panel").dataset.qr = String(on);
  if (!on) { $("qr").dataset.orderNo = ""; return; }
  if ($("qr").dataset.orderNo !== p.order_no) {
    $("qr").dataset.orderNo = p.order_no;
    $("qr-img").src = "/api/v1/payments/" + encodeURIComponent(p.order_no) + "/qr.png";
    $("qr-amount").textContent = money(p.amount, p.currency);
  }
  const left = Math.max(0, Math.floor((new Date(p.payment_expires_at) - Date.now()) / 1000));
  const text = left > 0 ? t("qr_expires") + " " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") : t("qr_expired");
  setText("qr-countdown", text);
  $("qr-countdown").dataset.seconds = String(left);
}

// checkResult is the answer of the last "Payment completed" press, shown
// while it is still true: "paid" while the payment is paid, "not paid yet"
// while it is open. The poll of a payment being paid on the customer's
// phone changes its version every second (one more check) and the end of
// the cashier's wait makes it pending: neither makes the answer wrong, and
// hiding it then took it away before the cashier had read it.
function renderCheckResult(p) {
  const r = state.checked;
  const on = !!r && !!p && r.order_no === p.order_no && p.version >= r.version &&
    (r.paid ? p.status === "paid" : OPEN.includes(p.status));
  show("check-result", on);
  if (on) {
    $("check-result").dataset.paid = String(r.paid);
    $("check-result").textContent = t(r.paid ? "qr_paid" : "qr_not_paid");
  }
}

const ICONS = { paid: "✓", failed: "✕", canceled: "✕", pending: "!", verifying: "⟳", at_terminal: "…", created: "…" };
const OPEN = ["created", "at_terminal", "verifying", "pending"];

// How often the page checks that the daemon answers while the stream is
// open (a daemon that hangs closes no websocket), and how long it waits.
const HEALTH_EVERY = 1000;
const HEALTH_TIMEOUT = 900;

const state = {
  lang: localStorage.getItem("posbridge.lang") || "en",
  lane: localStorage.getItem("posbridge.lane") || "",
  second: new URLSearchParams(location.search).get("view") === "second",
  currency: "AED",
  lanes: new Map(),    // id -> lane JSON (link, payment)
  orders: new Map(),   // order_no -> payment JSON, newest version kept
  active: new Map(),   // lane id -> order_no of its current payment
  lastSeq: null,       // seq of the last stored event applied
  ws: null,
  connected: false,
  lastTrue: null,      // when the daemon last answered (Date): what is shown was true then
  backoff: 250,
  retryTimer: null,
  healthTimer: null,
  payKey: null,        // Idempotency-Key of the payment being entered
  unlocked: null,      // order_no whose secondary actions the supervisor allowed
  demo: null,          // the demo's scenarios, when the daemon is a demo
  checked: null,       // the last "Payment completed" answer: {order_no, version, paid}
};

const $ = (id) => document.getElementById(id);
const t = (key) => (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || key;

// --- API ------------------------------------------------------------------
async function api(method, path, body, headers) {
  const opts = { method, headers: Object.assign({ "X-Cashier": "cashier page" }, headers || {}) };
  if (method !== "GET") {
    // The API refuses a state-changing request that is not JSON (415).
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  const res = await fetch(path.startsWith("/demo/") ? path : "/api/v1" + path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const msg = data && data.error ? data.error.message : res.status + " " + res.statusText;
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return data;
}

function showError(err) {
  const el = $("toast");
  el.textContent = err.message || String(err);
  el.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

// --- money and time ---------------------------------------------------------
// Amounts are decimal strings with the currency's decimals; arithmetic is on
// integer minor units.
function decimalsOf(s) { return ((s || "").split(".")[1] || "").length; }
function toMinor(s, exp) {
  if (!/^\d+(\.\d+)?$/.test(s || "")) return NaN;
  const [i, f = ""] = s.split(".");
  if (f.length > exp) return NaN;
  return Number(i) * 10 ** exp + Number((f + "0".repeat(exp)).slice(0, exp) || "0");
}
function fromMinor(n, exp) {
  const s = String(Math.abs(n)).padStart(exp + 1, "0");
  return (n < 0 ? "-" : "") + (exp ? s.slice(0, -exp) + "." + s.slice(-exp) : s);
}
function money(amount, currency) { return amount + " " + currency; }

// Local wall-clock time (the API's times are UTC), Latin digits in every
// locale, like the amounts.
function fmtTime(iso, seconds) {
  const d = iso instanceof Date ? iso : new Date(iso);
  if (isNaN(d)) return "";
  const o = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (seconds) o.second = "2-digit";
  return new Intl.DateTimeFormat("en-GB", o).format(d);
}

// --- state ----------------------------------------------------------------
// upsert keeps the newest version of an order and makes it its lane's
// current payment when it is the lane's newest.
function upsert(p) {
  if (!p || !p.order_no) return;
  const old = state.orders.get(p.order_no);
  if (old && old.version > p.version) return;
  state.orders.set(p.order_no, p);
  const cur = state.active.get(p.lane);
  const curP = cur && state.orders.get(cur);
  if (!curP || cur === p.order_no || (p.created_at || "") >= (curP.created_at || "")) {
    state.active.set(p.lane, p.order_no);
  }
}

function applyLane(l) {
  state.lanes.set(l.id, l);
  if (l.payment) upsert(l.payment);
}

async function loadLanes() {
  const data = await api("GET", "/lanes");
  state.currency = data.currency || state.currency;
  state.refundApproval = !!data.refund_approval;
  for (const l of data.lanes) applyLane(l);
  if (!state.lanes.has(state.lane)) state.lane = data.lanes.length ? data.lanes[0].id : "";
  renderLaneOptions();
}

async function loadPayments() {
  const [recent, attention] = await Promise.all([
    api("GET", "/payments?limit=50"),
    api("GET", "/payments?needs_attention=true&limit=50"),
  ]);
  for (const p of recent.payments.concat(attention.payments)) upsert(p);
}

// --- event stream -----------------------------------------------------------
// connect opens the event stream after state.lastSeq; resync (after close
// code 4409) replays every stored event from since=0 and reloads the lists.
function connect(resync) {
  clearTimeout(state.retryTimer);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = state.lastSeq === null ? "" : "?since=" + state.lastSeq;
  const ws = new WebSocket(proto + "//" + location.host + "/api/v1/events" + q);
  state.ws = ws;
  let first = state.lastSeq === null || resync === true;
  ws.onmessage = async (msg) => {
    let ev;
    try { ev = JSON.parse(msg.data); } catch (e) { return; }
    if (state.ws !== ws) return;
    state.lastTrue = new Date();
    if (ev.type === "hello") {
      state.backoff = 250;
      if (first) {
        // First connect: the stream starts at the newest event; the
        // snapshot below is at least that new, and versions order the rest.
        // After a resync the stream replays from 0 and lastSeq follows it.
        state.lastSeq = Math.max(ev.seq, state.lastSeq || 0);
        first = false;
        try { await loadPayments(); } catch (e) { showError(e); }
      }
      // Lane links are not stored as events; read them again.
      try { await loadLanes(); } catch (e) { showError(e); }
      if (state.ws === ws) setConnected(true);
      render();
      return;
    }
    if (ev.type === "lane" && ev.lane) {
      applyLane(ev.lane);
    } else if (ev.payment) {
      upsert(ev.payment);
    }
    if (ev.type !== "lane" && ev.seq > (state.lastSeq || 0)) state.lastSeq = ev.seq;
    render();
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    setConnected(false);
    if (ev.code === 4409) {
      // Our seq is beyond the server's newest event (its database was
      // restored): forget what we have and start again from since=0.
      state.orders.clear();
      state.active.clear();
      state.lastSeq = 0;
      state.backoff = 250;
      state.retryTimer = setTimeout(() => connect(true), 0);
      return;
    }
    const delay = Math.min(state.backoff, 5000) * (0.8 + Math.random() * 0.4);
    state.backoff = Math.min(state.backoff * 2, 5000);
    state.retryTimer = setTimeout(connect, delay);
  };
  ws.onerror = () => { /* onclose follows and reconnects */ };
}

// health asks /healthz while the stream is open: a daemon that stopped
// answering without closing the socket is shown as not connected within
// HEALTH_EVERY + HEALTH_TIMEOUT, and the stream is reopened.
async function health() {
  clearTimeout(state.healthTimer);
  if (state.connected) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), HEALTH_TIMEOUT);
    try {
      const res = await fetch("/healthz", { cache: "no-store", signal: ctl.signal });
      if (!res.ok) throw new Error(res.status);
      state.lastTrue = new Date();
    } catch (e) {
      if (state.connected) {
        const ws = state.ws;
        setConnected(false);
        state.ws = null;
        if (ws) { ws.onclose = null; ws.close(); }
        state.retryTimer = setTimeout(connect, 250);
      }
    } finally { clearTimeout(timer); }
  }
  state.healthTimer = setTimeout(health, HEALTH_EVERY);
}

function setConnected(ok) {
  state.connected = ok;
  document.body.dataset.connected = ok ? "true" : "false";
  if (!ok) {
    // Nothing the page holds can be acted on now.
    for (const d of document.querySelectorAll("dialog[open]")) d.close();
  }
  render();
}
