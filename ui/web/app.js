// posbridge cashier page: plain JS, no framework, no build step.
// State comes from /api/v1 and the event stream (/api/v1/events?since=SEQ);
// after a cut it reconnects with the last seq it saw and misses nothing.
// With ?view=second it is a read-only second screen: the same state, no
// actions.
"use strict";

const I18N = {
  en: {
    lane: "Lane", terminal: "Terminal", gateway: "Gateway",
    current: "Current payment", no_payment: "No payment yet", order: "Order", card: "Card",
    checks: "Checks", refunded: "Refunded", new_payment: "New payment", verify: "Verify now",
    cancel: "Cancel payment", retry: "Retry on terminal", override: "Checked on the terminal",
    refund: "Refund", needs_attention: "Needs attention", recent: "Recent payments", all: "All",
    st_open: "In progress", close: "Close", charge: "Charge", amount: "Amount", reason: "Reason",
    your_name: "Your name", back: "Back", confirm: "Confirm", nothing: "Nothing here",
    link_up: "connected", link_down: "not connected", link_handshaking: "connecting", link_unknown: "unknown",
    gw_ok: "OK", gw_waiting: "not confirming", gw_unknown: "unknown",
    st_created: "Waiting for the customer", st_at_terminal: "Waiting for the customer", st_verifying: "Checking with the bank",
    st_pending: "Not confirmed", st_paid: "Paid", st_failed: "Not paid", st_canceled: "Canceled",
    confirm_cancel: "Cancel this payment?", confirm_cancel_text: "The bank is asked first; a payment that went through is kept.",
    confirm_retry: "Send this payment to the terminal again?", confirm_retry_text: "Only if the bank shows it unpaid.",
    confirm_refund: "Refund this payment?", confirm_refund_text: "Money goes back to the customer's card.",
    confirm_override: "You checked the terminal?", confirm_override_text: "Say what the terminal showed. The payment stays under check until the bank confirms it.",
    reason_required: "Please give a reason.", amount_invalid: "Enter an amount.",
    attention_prefix: "Needs attention: ",
    offline: "Not connected to posbridge — do not take card payments",
    offline_hint: "The page reconnects by itself. What you see below may be out of date.",
    last_known: "Last known at ",
    term_down: "Terminal not connected — card payments are refused on this lane until it is back. Check the terminal's cable and power.",
    block_title: "Not confirmed by the bank",
    block_text: "Do not take payment again and do not let the customer leave with a second charge. Press \"Check again\"; if it stays not confirmed, call the supervisor.",
    check_again: "Check again", more: "Other actions…",
    more_title: "Only with the supervisor",
    more_text: "This payment may have gone through: the customer may have been charged. Canceling, retrying or marking it paid can lose the sale or charge the customer twice. Continue only if the supervisor agrees.",
    rf_refunded: "Refunded", rf_pending: "Refund pending", rf_refundable: "Refundable",
    rf_approval: "A refund waits for approval in the payment provider's back office: until then it is pending, and no money has gone back.",
    refund_too_much: "More than can be refunded.",
    demo: "Demo: customer",
    day_title: "End of day (supervisor)", day_close: "Close the day", day_report: "Day report", day_csv: "CSV",
    day_confirm: "Close the day?",
    day_confirm_text: "posbridge compares today's payments and refunds with the bank's own list. Payments only the bank has are added and flagged; differences are flagged for you. Running it again changes nothing.",
    day_done: "Day {date} closed: {matched} matched, {only_gateway} only at the bank, {only_local} only in posbridge, {different} different.",
    link_qr: "none (QR)", qr_scan: "Scan to pay with your phone", qr_expires: "Expires in", qr_expired: "Expired",
    payment_completed: "Payment completed",
    qr_not_paid: "Not paid yet — do not take payment again; check again later",
    qr_paid: "Payment successful",
  },
  ar: {
    lane: "المسار", terminal: "الجهاز", gateway: "البوابة",
    current: "الدفعة الحالية", no_payment: "لا توجد دفعة بعد", order: "الطلب", card: "البطاقة",
    checks: "عمليات التحقق", refunded: "المبلغ المسترد", new_payment: "دفعة جديدة", verify: "تحقق الآن",
    cancel: "إلغاء الدفعة", retry: "إعادة الإرسال إلى الجهاز", override: "تم التحقق على الجهاز",
    refund: "استرداد", needs_attention: "تحتاج إلى متابعة", recent: "الدفعات الأخيرة", all: "الكل",
    st_open: "قيد التنفيذ", close: "إغلاق", charge: "ادفع", amount: "المبلغ", reason: "السبب",
    your_name: "اسمك", back: "رجوع", confirm: "تأكيد", nothing: "لا شيء هنا",
    link_up: "متصل", link_down: "غير متصل", link_handshaking: "جارٍ الاتصال", link_unknown: "غير معروف",
    gw_ok: "يعمل", gw_waiting: "لم يؤكد", gw_unknown: "غير معروف",
    st_created: "بانتظار العميل", st_at_terminal: "بانتظار العميل", st_verifying: "جارٍ التحقق مع البنك",
    st_pending: "غير مؤكدة", st_paid: "مدفوعة", st_failed: "غير مدفوعة", st_canceled: "ملغاة",
    confirm_cancel: "إلغاء هذه الدفعة؟", confirm_cancel_text: "يُسأل البنك أولاً؛ الدفعة التي تمت تبقى.",
    confirm_retry: "إرسال هذه الدفعة إلى الجهاز مرة أخرى؟", confirm_retry_text: "فقط إذا أظهر البنك أنها غير مدفوعة.",
    confirm_refund: "استرداد هذه الدفعة؟", confirm_refund_text: "يعود المال إلى بطاقة العميل.",
    confirm_override: "هل تحققت من الجهاز؟", confirm_override_text: "اكتب ما أظهره الجهاز. تبقى الدفعة قيد التحقق حتى يؤكدها البنك.",
    reason_required: "يرجى ذكر السبب.", amount_invalid: "أدخل المبلغ.",
    attention_prefix: "تحتاج إلى متابعة: ",
    offline: "غير متصل بـ posbridge — لا تأخذ دفعات بالبطاقة",
    offline_hint: "تعيد الصفحة الاتصال تلقائياً. قد لا يكون ما تراه أدناه محدثاً.",
    last_known: "آخر معلومة في ",
    term_down: "الجهاز غير متصل — تُرفض الدفعات بالبطاقة على هذا المسار حتى يعود. افحص كابل الجهاز وتغذيته.",
    block_title: "لم يؤكدها البنك",
    block_text: "لا تأخذ الدفعة مرة أخرى. اضغط \"تحقق مرة أخرى\"؛ وإذا بقيت غير مؤكدة فاتصل بالمشرف.",
    check_again: "تحقق مرة أخرى", more: "إجراءات أخرى…",
    more_title: "فقط بموافقة المشرف",
    more_text: "ربما تمت هذه الدفعة: ربما خُصم المبلغ من العميل. الإلغاء أو إعادة المحاولة أو تسجيلها مدفوعة قد يضيّع البيع أو يخصم من العميل مرتين. تابع فقط إذا وافق المشرف.",
    rf_refunded: "المسترد", rf_pending: "استرداد قيد التنفيذ", rf_refundable: "القابل للاسترداد",
    rf_approval: "ينتظر الاسترداد الموافقة في لوحة إدارة مزود الدفع: حتى ذلك الحين يبقى قيد التنفيذ ولم يُرجع أي مبلغ.",
    refund_too_much: "أكثر مما يمكن استرداده.",
    demo: "تجربة: العميل",
    day_title: "نهاية اليوم (المشرف)", day_close: "إغلاق اليوم", day_report: "تقرير اليوم", day_csv: "CSV",
    day_confirm: "إغلاق اليوم؟",
    day_confirm_text: "يقارن posbridge دفعات اليوم والمبالغ المستردة بقائمة البنك نفسه. الدفعات الموجودة لدى البنك فقط تُضاف ويُشار إليها؛ ويُشار إليك بالاختلافات. إعادة التشغيل لا تغيّر شيئاً.",
    day_done: "أُغلق اليوم {date}: {matched} متطابقة، {only_gateway} لدى البنك فقط، {only_local} في posbridge فقط، {different} مختلفة.",
    link_qr: "لا يوجد (QR)", qr_scan: "امسح الرمز للدفع بهاتفك", qr_expires: "ينتهي خلال", qr_expired: "انتهت المهلة",
    payment_completed: "تمت الدفعة",
    qr_not_paid: "لم تُدفع بعد — لا تأخذ الدفعة مرة أخرى؛ تحقق مرة أخرى لاحقاً",
    qr_paid: "تمت الدفعة بنجاح",
  },
};

// Why a payment ended or is stuck (the API's reason), as sentences.
const REASONS = {
  en: {
    declined: "The card was declined.",
    canceled_by_user: "The customer canceled on the terminal.",
    canceled_by_cashier: "Canceled by the cashier.",
    gateway_failed: "The bank reports the payment failed.",
    expired: "The bank never confirmed it; it was closed at the bank.",
    not_sent: "The sale never reached the terminal.",
    terminal_unavailable: "The terminal was not reachable.",
    interrupted: "The sale was cut off; the terminal closed it without charging.",
    unconfirmed: "The bank has not confirmed it after every check.",
    amount_mismatch: "The bank reported a different amount.",
    paid_after_close: "The bank reported it paid after it had been closed.",
    cashier_override: "A cashier checked the terminal and vouched for it.",
    cancel_refused: "The bank refused to cancel it because it is paid.",
    cancel_sent: "A cancel was sent to the bank and its answer was lost; it is being checked.",
    partially_paid: "Only part of the amount arrived; it is not paid in full.",
  },
  ar: {
    declined: "رُفضت البطاقة.",
    canceled_by_user: "ألغى العميل العملية على الجهاز.",
    canceled_by_cashier: "ألغاها الكاشير.",
    gateway_failed: "أبلغ البنك أن الدفعة فشلت.",
    expired: "لم يؤكدها البنك؛ أُغلقت لدى البنك.",
    not_sent: "لم تصل العملية إلى الجهاز.",
    terminal_unavailable: "تعذر الوصول إلى الجهاز.",
    interrupted: "انقطعت العملية؛ أغلقها الجهاز دون خصم.",
    unconfirmed: "لم يؤكدها البنك بعد كل عمليات التحقق.",
    amount_mismatch: "أبلغ البنك عن مبلغ مختلف.",
    paid_after_close: "أبلغ البنك أنها مدفوعة بعد إغلاقها.",
    cashier_override: "تحقق كاشير من الجهاز وأكد الدفعة.",
    cancel_refused: "رفض البنك الإلغاء لأنها مدفوعة.",
    cancel_sent: "أُرسل طلب إلغاء إلى البنك وضاع رده؛ جارٍ التحقق.",
    partially_paid: "وصل جزء من المبلغ فقط؛ لم تُدفع بالكامل.",
  },
};

// Why a payment needs attention (the API's attention), as what happened and
// what to do. The engine writes a code or, for a few cases, an English
// sentence; both are keys here.
const ATTENTION = {
  en: {
    paid_after_close: "The bank confirmed a payment on an order that had been closed: the customer was charged. Give the goods or refund it.",
    amount_mismatch: "The bank reported a different amount. Compare with the bank's portal and tell the supervisor.",
    cashier_override: "A cashier checked the terminal and said it showed the payment successful; the bank has not confirmed it yet.",
    cancel_refused: "The bank refused to cancel because the payment went through: it is paid. Refund it if the sale did not happen.",
    unconfirmed: "Not confirmed by the bank after every check: the customer may have been charged. Tell the supervisor.",
    "terminal reports a payment the gateway does not know yet": "The terminal says paid but the bank does not know the payment yet. posbridge keeps checking; do not refund or charge again.",
    "not confirmed by the gateway after every check; the terminal may have charged the customer": "Not confirmed by the bank after every check: the terminal may have charged the customer. Tell the supervisor.",
    "closed although neither the terminal nor the gateway has a record of the sale": "Closed although neither the terminal nor the bank has a record of the sale. Tell the supervisor.",
    "a refund notification disagreed with the stored refund": "The bank reported a refund that does not match. Tell the supervisor.",
    other: "Tell the supervisor.",
  },
  ar: {
    paid_after_close: "أكد البنك دفعة على طلب مغلق: خُصم المبلغ من العميل. سلّم البضاعة أو استرد المبلغ.",
    amount_mismatch: "أبلغ البنك عن مبلغ مختلف. قارن مع بوابة البنك وأبلغ المشرف.",
    cashier_override: "تحقق كاشير من الجهاز وقال إنه أظهر الدفعة ناجحة؛ لم يؤكدها البنك بعد.",
    cancel_refused: "رفض البنك الإلغاء لأن الدفعة تمت: إنها مدفوعة. استردها إذا لم يتم البيع.",
    unconfirmed: "لم يؤكدها البنك بعد كل عمليات التحقق: ربما خُصم المبلغ من العميل. أبلغ المشرف.",
    "terminal reports a payment the gateway does not know yet": "يقول الجهاز إنها مدفوعة لكن البنك لا يعرفها بعد. يواصل posbridge التحقق؛ لا تسترد ولا تخصم مرة أخرى.",
    "not confirmed by the gateway after every check; the terminal may have charged the customer": "لم يؤكدها البنك بعد كل عمليات التحقق: ربما خصم الجهاز المبلغ من العميل. أبلغ المشرف.",
    "closed although neither the terminal nor the gateway has a record of the sale": "أُغلقت مع أنه لا سجل للعملية لدى الجهاز ولا البنك. أبلغ المشرف.",
    "a refund notification disagreed with the stored refund": "أبلغ البنك عن استرداد لا يطابق المسجل. أبلغ المشرف.",
    other: "أبلغ المشرف.",
  },
};

function attentionText(p) {
  const m = ATTENTION[state.lang] || ATTENTION.en;
  // After every check, "unconfirmed" says more than why it was first flagged.
  const k = p.status === "pending" && p.reason === "unconfirmed" ? "unconfirmed" : p.attention || "";
  if (m[k]) return m[k];
  if (state.lang === "en" && k) return k.charAt(0).toUpperCase() + k.slice(1) + ". " + m.other;
  return m.other;
}

function reasonText(p) {
  if (!p.reason || p.status === "pending" && p.reason === "cashier_override") return "";
  return (REASONS[state.lang] || REASONS.en)[p.reason] || (REASONS.en[p.reason] || "");
}

// Arabic instructions, keyed like posbridge.Instruction decides the English one.
function instructionAr(p) {
  if (isQR(p) && OPEN.includes(p.status) && !p.override && p.reason !== "unconfirmed") {
    if (p.status === "pending") return "لم تُدفع بعد — لا تأخذ الدفعة مرة أخرى؛ تحقق مرة أخرى لاحقاً";
    if (!p.payment_url) return "جارٍ فتح صفحة الدفع — يرجى الانتظار";
    return "اعرض رمز QR — يدفع العميل بهاتفه";
  }
  switch (p.status) {
    case "created": case "at_terminal": return "بانتظار العميل على الجهاز";
    case "verifying": return "جارٍ التحقق من الدفعة مع البنك — يرجى الانتظار";
    case "pending":
      if (p.reason === "partially_paid") return "وصل جزء من الدفعة فقط — لم تُدفع بالكامل؛ لا تأخذ الدفعة مرة أخرى؛ أبلغ المشرف";
      if (p.override) return "سُجلت مدفوعة بعد التحقق من الجهاز — لا يزال التأكيد جارياً";
      if (p.reason === "unconfirmed") return "لم يؤكدها البنك — ربما خُصم المبلغ من العميل؛ أبلغ المشرف";
      return "لم تتأكد بعد — لا تأخذ الدفعة مرة أخرى";
    case "paid": return p.needs_attention ? "تمت الدفعة بنجاح — تأكدت متأخرة؛ أبلغ المشرف" : "تمت الدفعة بنجاح";
    case "failed":
      if (p.reason === "terminal_unavailable" || p.reason === "not_sent") return "لم تكتمل الدفعة — تعذر الوصول إلى الجهاز؛ لم يُخصم من العميل";
      return "لم تكتمل الدفعة";
    case "canceled": return "أُلغيت الدفعة — لم يُخصم من العميل";
  }
  return "";
}

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
// until the payment changes.
function renderCheckResult(p) {
  const r = state.checked;
  const on = !!r && !!p && r.order_no === p.order_no && r.version === p.version;
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
