// posbridge cashier page: drawing the page from the state (app.js) and the
// cashier's actions; init wires them once the page is parsed.
"use strict";

// --- rendering ----------------------------------------------------------------
function instruction(p) { return state.lang === "ar" ? instructionAr(p) : p.message; }

function show(id, on) { $(id).hidden = !on; }

function render() {
  const connected = state.connected;
  document.body.dataset.lastSeq = state.lastSeq === null ? "" : String(state.lastSeq);
  show("offline", !connected);
  const lane = state.lanes.get(state.lane);
  const link = !connected ? "unknown" : lane ? lane.link.state : "down";
  const qrLane = !!lane && lane.mode === "qr";
  $("ind-link").dataset.state = link;
  $("ind-link-text").textContent = qrLane ? t("link_qr") : t("link_" + link);
  show("term-down", connected && !!lane && link === "down" && !qrLane);

  const no = state.active.get(state.lane);
  const p = no ? state.orders.get(no) : null;
  const panel = $("panel");
  let gw = "unknown";
  if (p && connected) gw = p.status === "pending" ? "waiting" : (p.checks > 0 || p.status === "paid" ? "ok" : "unknown");
  $("ind-gateway").dataset.state = gw;
  $("ind-gateway-text").textContent = t("gw_" + gw);

  panel.dataset.stale = connected ? "false" : "true";
  show("stale-note", !connected && !!state.lastTrue);
  $("stale-note").textContent = state.lastTrue ? t("last_known") + fmtTime(state.lastTrue, true) : "";

  if (!p) {
    panel.dataset.status = "none";
    delete panel.dataset.orderNo;
    $("icon").textContent = "·";
    $("amount").textContent = "—";
    $("headline").textContent = t("no_payment");
    setText("instruction", "");
    $("reason").textContent = "";
    $("attention").hidden = true;
    for (const id of ["d-order", "d-card", "d-checks", "d-refunded"]) $(id).textContent = "—";
  } else {
    panel.dataset.status = p.status;
    panel.dataset.orderNo = p.order_no;
    $("icon").textContent = ICONS[p.status] || "?";
    $("amount").textContent = money(p.amount, p.currency);
    // A QR payment being verified is the customer paying on their phone.
    $("headline").textContent = t("st_" + (isQR(p) && p.status === "verifying" ? "at_terminal" : p.status));
    setText("instruction", instruction(p));
    $("reason").textContent = reasonText(p);
    const att = $("attention");
    att.hidden = !p.needs_attention;
    att.textContent = p.needs_attention ? t("attention_prefix") + attentionText(p) : "";
    $("d-order").textContent = p.order_no;
    $("d-card").textContent = p.card && p.card.last4 ? p.card.brand + " •••• " + p.card.last4 : "—";
    $("d-checks").textContent = String(p.checks);
    $("d-refunded").textContent = money(p.refunded, p.currency);
  }

  renderQR(p);
  renderCheckResult(p);
  // Not confirmed blocks the screen: one main action, the rest behind a
  // confirmation that names the risk. A QR payment not paid yet does not:
  // its code stays up until it expires, and "Payment completed" checks it.
  const qrOpen = isQR(p) && OPEN.includes(p.status) && p.reason !== "unconfirmed";
  const blocking = !!p && p.status === "pending" && !qrOpen;
  const unlocked = blocking && state.unlocked === p.order_no;
  show("block", blocking && !state.second);
  show("actions", !state.second && (!blocking || unlocked));
  const open = !!p && OPEN.includes(p.status);
  const off = !connected;
  $("act-check").disabled = off;
  $("act-more").disabled = off || unlocked;
  // An order left unconfirmed after every check no longer holds its lane
  // (the engine checks it daily): the next customer can pay once the
  // supervisor has been told.
  const holdsLane = open && !(p.status === "pending" && p.reason === "unconfirmed");
  $("act-new").disabled = off || !state.lane || holdsLane || link !== "up" && link !== "handshaking";
  $("act-verify").disabled = off || !p || !(open || p.needs_attention);
  const overridden = !!p && !!p.override;
  show("act-cancel", !overridden);
  show("act-retry", !overridden && !isQR(p) && !qrLane);
  show("act-completed", qrOpen && !!p.payment_url);
  show("act-override", !isQR(p) && !qrLane); // there is no terminal to have checked
  $("act-completed").disabled = off;
  $("act-cancel").disabled = off || !open;
  $("act-retry").disabled = off || !p || !["verifying", "pending"].includes(p.status);
  $("act-override").disabled = off || !p || !["verifying", "pending"].includes(p.status) || overridden;
  $("act-refund").disabled = off || !p || p.status !== "paid" || p.refunded === p.amount;
  show("act-new", !blocking || unlocked);
  show("act-refund", !blocking);
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
    left.className = "when";
    left.textContent = fmtTime(p.created_at) + " · " + t("lane") + " " + p.lane;
    const amt = document.createElement("span");
    amt.className = "amt";
    amt.textContent = money(p.amount, p.currency);
    const st = document.createElement("span");
    st.className = "st";
    st.dataset.status = p.status;
    st.textContent = t("st_" + p.status);
    if (p.needs_attention) st.title = attentionText(p);
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
  dayLinks();
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

// keyboard lets a physical keyboard drive the open keypad: digits, "." or
// ",", Backspace/Delete, Enter to charge (Escape closes the dialog).
function keyboard(e) {
  if (!$("dlg-pay").open || e.ctrlKey || e.metaKey || e.altKey) return;
  let v = null;
  if (/^[0-9]$/.test(e.key)) v = e.key;
  else if (e.key === "." || e.key === "," || e.key === "Decimal") v = ".";
  else if (e.key === "Backspace" || e.key === "Delete") v = "back";
  else if (e.key === "Enter") { e.preventDefault(); charge(); return; }
  if (v === null) return;
  e.preventDefault();
  keypad(v);
}

async function charge() {
  const amount = $("pay-display").textContent;
  if (!/^\d+(\.\d+)?$/.test(amount) || Number(amount) === 0) { showError(new Error(t("amount_invalid"))); return; }
  const btn = $("pay-go");
  if (btn.disabled) return;
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
  $("dlg-amount-row").hidden = opts.amount === undefined;
  $("dlg-reason-row").hidden = !opts.reason;
  $("dlg-by-row").hidden = !opts.by;
  $("refund-summary").hidden = !opts.summary;
  $("rf-approval").hidden = !opts.summary || !state.refundApproval;
  if (opts.summary) {
    $("rf-refunded").textContent = opts.summary.refunded;
    $("rf-pending").textContent = opts.summary.pending;
    $("rf-refundable").textContent = opts.summary.refundable;
  }
  $("dlg-amount").value = opts.amount || "";
  $("dlg-reason").value = "";
  $("dlg-error").textContent = "";
  const dlg = $("dlg-confirm");
  $("dlg-ok").onclick = async () => {
    const reason = $("dlg-reason").value.trim();
    if (opts.reason && !reason) { $("dlg-error").textContent = t("reason_required"); return; }
    const v = { amount: $("dlg-amount").value.trim(), reason, by: $("dlg-by").value.trim() };
    if (opts.check) { const msg = opts.check(v); if (msg) { $("dlg-error").textContent = msg; return; } }
    try {
      const p = await opts.run(v);
      dlg.close();
      if (p) { upsert(p); render(); }
    } catch (e) { $("dlg-error").textContent = e.message; }
  };
  dlg.showModal();
}

// openRefund shows what was refunded, what is still pending and what can
// be refunded, and proposes the refundable amount.
async function openRefund() {
  const p0 = current();
  if (!p0) return;
  let p, refunds;
  try {
    [p, { refunds }] = await Promise.all([
      api("GET", "/payments/" + p0.order_no),
      api("GET", "/payments/" + p0.order_no + "/refunds"),
    ]);
  } catch (e) { showError(e); return; }
  upsert(p);
  const exp = decimalsOf(p.amount);
  const pending = refunds.filter((r) => r.status === "requested" || r.status === "pending")
    .reduce((sum, r) => sum + toMinor(r.amount, exp), 0);
  const refundable = Math.max(0, toMinor(p.amount, exp) - toMinor(p.refunded, exp) - pending);
  confirmDialog({
    title: "confirm_refund", text: "confirm_refund_text", amount: fromMinor(refundable, exp), reason: true,
    summary: {
      refunded: money(p.refunded, p.currency),
      pending: money(fromMinor(pending, exp), p.currency),
      refundable: money(fromMinor(refundable, exp), p.currency),
    },
    check: (v) => {
      const n = toMinor(v.amount, exp);
      if (!(n > 0)) return t("amount_invalid");
      if (n > refundable) return t("refund_too_much");
      return "";
    },
    run: async (v) => {
      const key = "refund-" + p.order_no + "-" + (crypto.randomUUID ? crypto.randomUUID() : Date.now());
      await api("POST", "/payments/" + p.order_no + "/refunds", { amount: v.amount, reason: v.reason }, { "Idempotency-Key": key });
      return api("GET", "/payments/" + p.order_no);
    },
  });
}

// The supervisor's end of day: shown when the daemon can close a day.
async function loadDay() {
  if (state.second) return;
  try { await api("GET", "/day/report"); } catch (e) { return; }
  show("day", true);
}

function dayLinks() {
  const lang = state.lang === "ar" ? "ar" : "en";
  $("day-report").href = "/day/report?lang=" + lang;
}

function closeDay() {
  confirmDialog({
    title: "day_confirm", text: "day_confirm_text", by: true,
    run: async (v) => {
      const d = await api("POST", "/day/close", {}, v.by ? { "X-Cashier": v.by } : {});
      let msg = t("day_done").replace("{date}", d.date);
      for (const k of ["matched", "only_gateway", "only_local", "different"]) msg = msg.replace("{" + k + "}", d.counts[k]);
      $("day-result").textContent = msg;
      loadPayments();
      return null;
    },
  });
}

// The demo's scenario picker: shown only when the daemon is "posbridge demo".
async function loadDemo() {
  let d;
  try { d = await api("GET", "/demo/scenario"); } catch (e) { return; }
  if (!d || !Array.isArray(d.scenarios)) return;
  const sel = $("demo-scenario");
  sel.replaceChildren(...d.scenarios.map((s) => new Option(s.name + " — " + s.description, s.name)));
  sel.value = d.scenario;
  show("demo", true);
}

function init() {
  if (state.second) document.body.dataset.view = "second";
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
  document.addEventListener("keydown", keyboard);
  $("pay-go").addEventListener("click", charge);
  for (const b of document.querySelectorAll('.dlg button[value="close"]')) {
    b.addEventListener("click", () => b.closest("dialog").close());
  }
  const verify = () => act(() => api("POST", "/payments/" + current().order_no + "/verify"));
  $("act-verify").addEventListener("click", verify);
  $("act-completed").addEventListener("click", () => act(async () => {
    const r = await api("POST", "/payments/" + current().order_no + "/check");
    state.checked = { order_no: r.payment.order_no, version: r.payment.version, paid: r.paid };
    return r.payment;
  }));
  // The countdown of a QR payment's expiry.
  setInterval(() => { const p = current(); if (isQR(p)) renderQR(p); }, 1000);
  $("act-check").addEventListener("click", verify);
  $("act-more").addEventListener("click", () => {
    const p = current();
    confirmDialog({
      title: "more_title", text: "more_text",
      run: async () => { state.unlocked = p.order_no; render(); return null; },
    });
  });
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
  $("act-refund").addEventListener("click", openRefund);
  $("act-day-close").addEventListener("click", closeDay);
  $("demo-scenario").addEventListener("change", (e) => act(async () => {
    await api("POST", "/demo/scenario", { scenario: e.target.value });
    return null;
  }));
  applyLang();
  setConnected(false);
  connect();
  health();
  loadDemo();
  loadDay();
}

document.addEventListener("DOMContentLoaded", init);
