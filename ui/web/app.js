// posbridge cashier page: plain JS, no framework, no build step.
// State comes from /api/v1 and the event stream (/api/v1/events?since=SEQ);
// after a cut it reconnects with the last seq it saw and misses nothing.
"use strict";

const I18N = {
  en: {
    lane: "Lane", terminal: "Terminal", gateway: "Gateway", reconnecting: "Reconnecting…",
    current: "Current payment", no_payment: "No payment yet", order: "Order", card: "Card",
    checks: "Checks", refunded: "Refunded", new_payment: "New payment", verify: "Verify now",
    cancel: "Cancel payment", retry: "Retry on terminal", override: "Checked on the terminal",
    refund: "Refund", needs_attention: "Needs attention", recent: "Recent payments", all: "All",
    st_open: "In progress", close: "Close", charge: "Charge", amount: "Amount", reason: "Reason",
    your_name: "Your name", back: "Back", confirm: "Confirm", nothing: "Nothing here",
    link_up: "connected", link_down: "not connected", link_handshaking: "connecting",
    gw_ok: "OK", gw_waiting: "not confirming", gw_unknown: "—",
    st_created: "Waiting", st_at_terminal: "On the terminal", st_verifying: "Checking",
    st_pending: "Not confirmed", st_paid: "Paid", st_failed: "Not paid", st_canceled: "Canceled",
    confirm_cancel: "Cancel this payment?", confirm_cancel_text: "The bank is asked first; a payment that went through is kept.",
    confirm_retry: "Send this payment to the terminal again?", confirm_retry_text: "Only if the bank shows it unpaid.",
    confirm_refund: "Refund this payment?", confirm_refund_text: "Money goes back to the customer's card.",
    confirm_override: "You checked the terminal?", confirm_override_text: "Say what the terminal showed. The payment stays under check until the bank confirms it.",
    reason_required: "Please give a reason.", amount_invalid: "Enter an amount.",
    attention_prefix: "Needs attention: ",
  },
  ar: {
    lane: "المسار", terminal: "الجهاز", gateway: "البوابة", reconnecting: "جارٍ إعادة الاتصال…",
    current: "الدفعة الحالية", no_payment: "لا توجد دفعة بعد", order: "الطلب", card: "البطاقة",
    checks: "عمليات التحقق", refunded: "المبلغ المسترد", new_payment: "دفعة جديدة", verify: "تحقق الآن",
    cancel: "إلغاء الدفعة", retry: "إعادة الإرسال إلى الجهاز", override: "تم التحقق على الجهاز",
    refund: "استرداد", needs_attention: "تحتاج إلى متابعة", recent: "الدفعات الأخيرة", all: "الكل",
    st_open: "قيد التنفيذ", close: "إغلاق", charge: "ادفع", amount: "المبلغ", reason: "السبب",
    your_name: "اسمك", back: "رجوع", confirm: "تأكيد", nothing: "لا شيء هنا",
    link_up: "متصل", link_down: "غير متصل", link_handshaking: "جارٍ الاتصال",
    gw_ok: "يعمل", gw_waiting: "لم يؤكد", gw_unknown: "—",
    st_created: "انتظار", st_at_terminal: "على الجهاز", st_verifying: "جارٍ التحقق",
    st_pending: "غير مؤكدة", st_paid: "مدفوعة", st_failed: "غير مدفوعة", st_canceled: "ملغاة",
    confirm_cancel: "إلغاء هذه الدفعة؟", confirm_cancel_text: "يُسأل البنك أولاً؛ الدفعة التي تمت تبقى.",
    confirm_retry: "إرسال هذه الدفعة إلى الجهاز مرة أخرى؟", confirm_retry_text: "فقط إذا أظهر البنك أنها غير مدفوعة.",
    confirm_refund: "استرداد هذه الدفعة؟", confirm_refund_text: "يعود المال إلى بطاقة العميل.",
    confirm_override: "هل تحققت من الجهاز؟", confirm_override_text: "اكتب ما أظهره الجهاز. تبقى الدفعة قيد التحقق حتى يؤكدها البنك.",
    reason_required: "يرجى ذكر السبب.", amount_invalid: "أدخل المبلغ.",
    attention_prefix: "تحتاج إلى متابعة: ",
  },
};

// Arabic instructions, keyed like posbridge.Instruction decides the English one.
function instructionAr(p) {
  switch (p.status) {
    case "created": case "at_terminal": return "بانتظار العميل على الجهاز";
    case "verifying": return "جارٍ التحقق من الدفعة مع البنك — يرجى الانتظار";
    case "pending": return p.override ? "سُجلت مدفوعة بعد التحقق من الجهاز — لا يزال التأكيد جارياً" : "لم تتأكد بعد — لا تأخذ الدفعة مرة أخرى";
    case "paid": return p.needs_attention ? "تمت الدفعة بنجاح — تأكدت متأخرة؛ أبلغ المشرف" : "تمت الدفعة بنجاح";
    case "failed":
      if (p.reason === "terminal_unavailable" || p.reason === "not_sent") return "لم تكتمل الدفعة — تعذر الوصول إلى الجهاز؛ لم يُخصم من العميل";
      return "لم تكتمل الدفعة";
    case "canceled": return "أُلغيت الدفعة — لم يُخصم من العميل";
  }
  return "";
}

const ICONS = { paid: "✓", failed: "✕", canceled: "✕", pending: "!", verifying: "…", at_terminal: "…", created: "…" };
const OPEN = ["created", "at_terminal", "verifying", "pending"];

const state = {
  lang: localStorage.getItem("posbridge.lang") || "en",
  lane: localStorage.getItem("posbridge.lane") || "",
  currency: "AED",
  lanes: new Map(),    // id -> lane JSON (link, payment)
  orders: new Map(),   // order_no -> payment JSON, newest version kept
  active: new Map(),   // lane id -> order_no of its current payment
  lastSeq: null,       // seq of the last stored event applied
  ws: null,
  backoff: 250,
  retryTimer: null,
  payKey: null,        // Idempotency-Key of the payment being entered
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
  const res = await fetch("/api/v1" + path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const msg = data && data.error ? data.error.message : res.status + " " + res.statusText;
    throw new Error(msg);
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
      setConnected(true);
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

function setConnected(ok) {
  document.body.dataset.connected = ok ? "true" : "false";
  $("conn").hidden = ok;
}

// --- rendering ----------------------------------------------------------------
function money(amount, currency) { return amount + " " + currency; }

function instruction(p) { return state.lang === "ar" ? instructionAr(p) : p.message; }

function render() {
  document.body.dataset.lastSeq = state.lastSeq === null ? "" : String(state.lastSeq);
  const lane = state.lanes.get(state.lane);
  const link = lane ? lane.link.state : "down";
  $("ind-link").dataset.state = link;
  $("ind-link-text").textContent = t("link_" + link);

  const no = state.active.get(state.lane);
  const p = no ? state.orders.get(no) : null;
  const panel = $("panel");
  let gw = "unknown";
  if (p) gw = p.status === "pending" ? "waiting" : (p.checks > 0 || p.status === "paid" ? "ok" : "unknown");
  $("ind-gateway").dataset.state = gw;
  $("ind-gateway-text").textContent = t("gw_" + gw);

  if (!p) {
    panel.dataset.status = "none";
    $("icon").textContent = "·";
    $("amount").textContent = "—";
    $("headline").textContent = t("no_payment");
    setText("instruction", "");
    $("attention").hidden = true;
    for (const id of ["d-order", "d-card", "d-checks", "d-refunded"]) $(id).textContent = "—";
  } else {
    panel.dataset.status = p.status;
    panel.dataset.orderNo = p.order_no;
    $("icon").textContent = ICONS[p.status] || "?";
    $("amount").textContent = money(p.amount, p.currency);
    $("headline").textContent = t("st_" + p.status);
    setText("instruction", instruction(p));
    const att = $("attention");
    att.hidden = !p.needs_attention;
    att.textContent = p.needs_attention ? t("attention_prefix") + (p.attention || "") : "";
    $("d-order").textContent = p.order_no;
    $("d-card").textContent = p.card && p.card.last4 ? p.card.brand + " •••• " + p.card.last4 : "—";
    $("d-checks").textContent = String(p.checks);
    $("d-refunded").textContent = money(p.refunded, p.currency);
  }
  const open = p && OPEN.includes(p.status);
  $("act-new").disabled = !state.lane || !!open;
  $("act-verify").disabled = !p || !(open || p.needs_attention);
  $("act-cancel").disabled = !open;
  $("act-retry").disabled = !p || !["verifying", "pending"].includes(p.status);
  $("act-override").disabled = !p || !["verifying", "pending"].includes(p.status) || !!p.override;
  $("act-refund").disabled = !p || p.status !== "paid" || p.refunded === p.amount;
  renderLists();
}

// setText changes the live region only when the text changes, so that
// screen readers announce status changes once.
function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function renderLists() {
  const all = [...state.orders.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || "") || b.order_no.localeCompare(a.order_no));
  const f = $("filter").value;
  const recent = all.filter((p) => !f || (f === "open" ? OPEN.includes(p.status) : p.status === f)).slice(0, 30);
  fillList($("recent-list"), recent);
  fillList($("attention-list"), all.filter((p) => p.needs_attention || p.status === "pending"));
}

function fillList(ul, items) {
  ul.replaceChildren();
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = t("nothing");
    ul.append(li);
    return;
  }
  for (const p of items) {
    const li = document.createElement("li");
    li.dataset.orderNo = p.order_no;
    li.dataset.status = p.status;
    const b = document.createElement("button");
    b.type = "button";
    const left = document.createElement("span");
    left.textContent = (p.created_at || "").slice(11, 16) + " · " + t("lane") + " " + p.lane;
    const amt = document.createElement("span");
    amt.className = "amt";
    amt.textContent = money(p.amount, p.currency);
    const st = document.createElement("span");
    st.className = "st";
    st.dataset.status = p.status;
    st.textContent = t("st_" + p.status);
    b.append(left, amt, st);
    b.addEventListener("click", () => {
      state.lane = p.lane;
      state.active.set(p.lane, p.order_no);
      renderLaneOptions();
      render();
    });
    li.append(b);
    ul.append(li);
  }
}

function renderLaneOptions() {
  const sel = $("lane");
  const ids = [...state.lanes.keys()];
  if ([...sel.options].map((o) => o.value).join() !== ids.join()) {
    sel.replaceChildren(...ids.map((id) => new Option(id, id)));
  }
  sel.value = state.lane;
}

function applyLang() {
  const html = document.documentElement;
  html.lang = state.lang;
  html.dir = state.lang === "ar" ? "rtl" : "ltr";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const btn = $("lang");
  btn.textContent = state.lang === "ar" ? "English" : "العربية";
  btn.lang = state.lang === "ar" ? "en" : "ar";
  render();
}

// --- actions -----------------------------------------------------------------
function current() {
  const no = state.active.get(state.lane);
  return no ? state.orders.get(no) : null;
}

async function act(fn) {
  try { const p = await fn(); if (p) { upsert(p); render(); } } catch (e) { showError(e); }
}

function openPay() {
  state.payKey = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9-]/g, "");
  $("pay-display").value = "0";
  $("pay-display").textContent = "0";
  $("dlg-pay").showModal();
}

function keypad(v) {
  const out = $("pay-display");
  let s = out.textContent === "0" ? "" : out.textContent;
  if (v === "back") s = s.slice(0, -1);
  else if (v === ".") { if (!s.includes(".")) s = (s || "0") + "."; }
  else if (!(s.includes(".") && s.split(".")[1].length >= 3) && s.length < 12) s += v;
  out.textContent = s || "0";
}

async function charge() {
  const amount = $("pay-display").textContent;
  if (!/^\d+(\.\d+)?$/.test(amount) || Number(amount) === 0) { showError(new Error(t("amount_invalid"))); return; }
  const btn = $("pay-go");
  btn.disabled = true;
  try {
    const p = await api("POST", "/payments", { lane: state.lane, amount, currency: state.currency }, { "Idempotency-Key": state.payKey });
    $("dlg-pay").close();
    upsert(p);
    state.active.set(p.lane, p.order_no);
    render();
  } catch (e) { showError(e); } finally { btn.disabled = false; }
}

// confirmDialog asks before an action; opts says which fields it needs.
function confirmDialog(opts) {
  $("dlg-confirm-title").textContent = t(opts.title);
  $("dlg-confirm-text").textContent = t(opts.text);
  $("dlg-amount-row").hidden = !opts.amount;
  $("dlg-reason-row").hidden = !opts.reason;
  $("dlg-by-row").hidden = !opts.by;
  $("dlg-amount").value = opts.amount || "";
  $("dlg-reason").value = "";
  $("dlg-error").textContent = "";
  const dlg = $("dlg-confirm");
  $("dlg-ok").onclick = async () => {
    const reason = $("dlg-reason").value.trim();
    if (opts.reason && !reason) { $("dlg-error").textContent = t("reason_required"); return; }
    try {
      const p = await opts.run({ amount: $("dlg-amount").value.trim(), reason, by: $("dlg-by").value.trim() });
      dlg.close();
      if (p) { upsert(p); render(); }
    } catch (e) { $("dlg-error").textContent = e.message; }
  };
  dlg.showModal();
}

function init() {
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "ar" ? "en" : "ar";
    localStorage.setItem("posbridge.lang", state.lang);
    applyLang();
  });
  $("lane").addEventListener("change", (e) => {
    state.lane = e.target.value;
    localStorage.setItem("posbridge.lane", state.lane);
    render();
  });
  $("filter").addEventListener("change", renderLists);
  $("act-new").addEventListener("click", openPay);
  $("keypad").addEventListener("click", (e) => { if (e.target.value) keypad(e.target.value); });
  $("pay-go").addEventListener("click", charge);
  for (const b of document.querySelectorAll('.dlg button[value="close"]')) {
    b.addEventListener("click", () => b.closest("dialog").close());
  }
  $("act-verify").addEventListener("click", () => act(() => api("POST", "/payments/" + current().order_no + "/verify")));
  $("act-cancel").addEventListener("click", () => confirmDialog({
    title: "confirm_cancel", text: "confirm_cancel_text",
    run: () => api("POST", "/payments/" + current().order_no + "/cancel"),
  }));
  $("act-retry").addEventListener("click", () => confirmDialog({
    title: "confirm_retry", text: "confirm_retry_text",
    run: () => api("POST", "/payments/" + current().order_no + "/retry"),
  }));
  $("act-override").addEventListener("click", () => confirmDialog({
    title: "confirm_override", text: "confirm_override_text", reason: true, by: true,
    run: (v) => api("POST", "/payments/" + current().order_no + "/override", { reason: v.reason, by: v.by }),
  }));
  $("act-refund").addEventListener("click", () => {
    const p = current();
    confirmDialog({
      title: "confirm_refund", text: "confirm_refund_text", amount: p.amount, reason: true,
      run: async (v) => {
        await api("POST", "/payments/" + p.order_no + "/refunds", { amount: v.amount, reason: v.reason });
        return api("GET", "/payments/" + p.order_no);
      },
    });
  });
  applyLang();
  connect();
}

document.addEventListener("DOMContentLoaded", init);
