// posbridge cashier page: the words it shows, in English and Arabic, and
// the sentences for the API's reasons and attention codes. Loaded before
// app.js and render.js (deferred scripts run in order).
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
