// The operator console: the call routed to this operator pops its client's card (from the live
// feed, no reload), the message form is keyboard first, escalation and not-billable marks are
// buttons that say what they will do; callbacks and e-mails due are listed beside it.
import { LANGUAGES, language, pickLanguage, setLanguage, t, translate, when } from "./i18n.js";
import { ApiError, element, follow, signIn } from "./session.js";

const $ = (id) => document.getElementById(id);
let session = null;
let call = null; // the screen pop of the call on screen

async function main() {
  pickLanguage();
  translate(document);
  languagePicker();
  session = await signIn();
  $("who").textContent = `${t("app.signed_in_as")} ${session.name}`;
  $("who").removeAttribute("data-t");
  $("sign-out").addEventListener("click", () => session.signOut());
  await loadPresence();
  $("note-form").addEventListener("submit", saveNote);
  $("nonbillable-form").addEventListener("submit", markNonBillable);
  $("transfer-form").addEventListener("submit", transfer);
  $("transfer-number").addEventListener("input", labelTransfer);
  $("appointment-form").addEventListener("submit", bookAppointment);
  for (const id of ["appointment-start", "appointment-minutes"]) $(id).addEventListener("input", labelAppointment);
  $("note-form").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) saveNote(event);
  });
  follow(session, `/operators/${encodeURIComponent(session.subject)}/feed`, onItem, (up) => {
    $("feed-state").textContent = t(up ? "feed.connected" : "feed.reconnecting");
  }, () => Promise.all([loadCallbacks(), loadConversations(), loadQueues()]));
  await Promise.all([loadCallbacks(), loadConversations(), loadQueues()]);
  setInterval(loadQueues, 30000);
}

// Each language's queue as the roster has it: who speaks it and is free, who is on a call.
async function loadQueues() {
  try {
    const roster = await session.api("routing", "/operators");
    const target = $("queues");
    target.replaceChildren();
    for (const code of LANGUAGES) {
      const speakers = roster.filter((operator) => operator.languages.includes(code));
      const count = (presence) => String(speakers.filter((o) => o.presence === presence).length);
      target.append(element("tr", {}, element("td", { text: t(`language.${code}`) }),
        element("td", { class: "number", text: count("available") }),
        element("td", { class: "number", text: count("busy") })));
    }
  } catch (error) { notice(error); }
}

function languagePicker() {
  const picker = $("language");
  for (const code of LANGUAGES) {
    picker.append(element("option", { value: code, text: code.toUpperCase() }));
  }
  picker.value = language();
  picker.addEventListener("change", () => {
    setLanguage(picker.value);
    if (call) showCard(call);
  });
}

async function loadPresence() {
  const picker = $("presence");
  try {
    const me = await session.api("routing", `/operators/${encodeURIComponent(session.subject)}`);
    picker.value = me.presence;
    picker.disabled = false;
    picker.addEventListener("change", async () => {
      try {
        await session.api("routing", `/operators/${encodeURIComponent(session.subject)}/presence`,
          { method: "PUT", body: { presence: picker.value } });
      } catch (error) { notice(error); }
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) notice(t("presence.not_on_roster"));
    else notice(error);
  }
}

async function onItem(kind, data) {
  if (kind === "call" && data && data.call_id) {
    loadQueues();
    try {
      showCard(await session.api("calls", `/calls/${data.call_id}/screen-pop`));
    } catch (error) { notice(error); }
  } else if (kind === "escalation" && data) {
    const ours = call && data.call_id === call.call_id;
    const text = `${t(`escalation.${data.state}`)}${data.attempt ? ` (${data.attempt})` : ""}`;
    if (ours) $("escalation-state").textContent = text;
    else if (data.state === "exhausted") notice(`${t("escalation.exhausted")}: ${data.call_id || data.conversation_id}`);
  } else if (kind === "callback") {
    await loadCallbacks();
  } else if (kind === "conversation") {
    await loadConversations();
  }
}

function showCard(pop) {
  call = pop;
  const card = $("card");
  card.replaceChildren();
  const open = pop.office_open;
  card.append(
    element("p", { class: "incoming" }, `${t("call.incoming")} `,
      element("strong", { text: pop.client.name })),
    element("p", { class: "say" }, element("span", { class: "label", text: t("call.say") }),
      element("q", { lang: pop.client.language, text: pop.greeting })),
    element("p", { class: open ? "state open" : "state closed", text: officeText(pop) }),
    element("p", { class: "meta",
      text: `${t("call.caller")}: ${pop.caller_number || "–"} · ${t("call.book_version")} ${pop.book_version ?? "–"}` }),
  );
  const calendar = pop.calendar && pop.calendar.linked ? `calendar.${pop.calendar.state}` : "calendar.none";
  card.append(element("p", { class: "meta", text: `${t("call.calendar")}: ${t(calendar)}` }));
  if (pop.temporary_instructions.length) {
    card.append(element("h3", { text: t("call.temporary") }),
      list(pop.temporary_instructions.map((item) => item.text), "temporary"));
  }
  if (pop.instructions) {
    card.append(element("h3", { text: t("call.instructions") }),
      element("p", { class: "instructions", text: pop.instructions }));
  }
  if (pop.urgency_rules.length) {
    card.append(element("h3", { text: t("call.urgent") }),
      list(pop.urgency_rules.map((rule) => rule.description)));
  }
  if (pop.faq.length) {
    const faq = element("div", { class: "faq" });
    for (const entry of pop.faq) {
      faq.append(element("details", {}, element("summary", { text: entry.question }),
        element("p", { text: entry.answer })));
    }
    card.append(element("h3", { text: t("call.faq") }), faq);
  }
  const answer = element("button", { type: "button", class: "primary", id: "answer",
    text: t("call.answer") });
  answer.addEventListener("click", answerCall);
  card.append(answer);
  $("no-call").hidden = true;
  card.hidden = false;
  escalationButtons(pop);
  $("appointment-form").hidden = !(pop.calendar && pop.calendar.linked);
  labelTransfer();
  labelAppointment();
  $("note").hidden = false;
  $("caller_number").value = pop.caller_number || "";
  answer.focus();
}

// The office state the screen pop gives ("open", "closed: outside office hours", "closed:
// public holiday (Kerstmis)", "closed: <closure reason>") in the operator's language.
function officeText(pop) {
  if (pop.office_open) return t("call.office_open");
  const why = pop.office_status.replace(/^closed: /, "");
  if (why === "outside office hours") return `${t("call.office_closed")}: ${t("office.after_hours")}`;
  const holiday = why.match(/^public holiday \((.*)\)$/);
  if (holiday) return `${t("call.office_closed")}: ${t("office.holiday")} ${holiday[1]}`;
  return `${t("call.office_closed")}: ${why}`;
}

function list(texts, className) {
  const node = element("ul", { class: className });
  for (const text of texts) node.append(element("li", { text }));
  return node;
}

function escalationButtons(pop) {
  const box = $("escalate-buttons");
  box.replaceChildren();
  for (const rule of pop.urgency_rules) {
    const label = `${t("escalate.button")}: ${rule.description} (${rule.channels.join(", ")})`;
    const button = element("button", { type: "button", class: "warn", text: label });
    button.addEventListener("click", () => escalate(rule));
    box.append(button);
  }
}

async function answerCall() {
  try {
    await session.api("calls", `/calls/${call.call_id}/answer`,
      { method: "POST", body: { language: call.client.language } });
    $("answer").disabled = true;
    $("answer").textContent = t("call.answered");
    $("caller_name").focus();
  } catch (error) { notice(error); }
}

async function saveNote(event) {
  event.preventDefault();
  const form = $("note-form");
  if (!form.reportValidity()) return;
  const body = {};
  for (const field of ["caller_name", "caller_company", "caller_number", "message", "follow_up",
    "follow_up_detail", "actions_taken", "information_given"]) {
    const value = form.elements[field].value.trim();
    if (value || field === "follow_up") body[field] = value;
  }
  try {
    await session.api("calls", `/calls/${call.call_id}/notes`, { method: "POST", body });
    status(t("note.saved"));
  } catch (error) { notice(error); }
}

async function escalate(rule) {
  const reason = $("escalate-reason").value.trim() || rule.description;
  try {
    await session.api("calls", `/calls/${call.call_id}/escalations`,
      { method: "POST", body: { urgency_kind: rule.kind, reason } });
    status(t("escalate.sent"));
  } catch (error) { notice(error); }
}

// Buttons say what they will do: the number the call goes to, the calendar and the time.
function labelTransfer() {
  const number = $("transfer-number").value.trim();
  $("transfer").textContent = number ? `${t("transfer.button")}: ${number}` : t("transfer.button");
}

function labelAppointment() {
  if (!call) return;
  const value = $("appointment-start").value;
  const proposes = call.calendar && call.calendar.permission === "read";
  const base = `${t(proposes ? "appointment.propose" : "appointment.book")} ${call.client.name}`;
  $("appointment").textContent = value ? `${base}: ${when(new Date(value).toISOString())}` : base;
}

async function transfer(event) {
  event.preventDefault();
  const to = $("transfer-number").value.trim();
  if (!to) return $("transfer-number").focus();
  try {
    await session.api("calls", `/calls/${call.call_id}/transfer`, { method: "POST", body: { to_number: to } });
    status(t("transfer.done"));
  } catch (error) { notice(error); }
}

async function bookAppointment(event) {
  event.preventDefault();
  const value = $("appointment-start").value;
  const title = $("appointment-title").value.trim();
  if (!value || !title) return (value ? $("appointment-title") : $("appointment-start")).focus();
  const start = new Date(value);
  const end = new Date(start.getTime() + Number($("appointment-minutes").value) * 60000);
  const span = { start: start.toISOString(), end: end.toISOString() };
  const proposes = call.calendar && call.calendar.permission === "read";
  try {
    if (proposes) {
      await session.api("calendar", `/calls/${call.call_id}/appointment-proposals`,
        { method: "POST", body: { title, times: [span] } });
    } else {
      await session.api("calendar", `/calls/${call.call_id}/appointments`,
        { method: "POST", body: { title, ...span } });
    }
    status(t(proposes ? "appointment.proposed" : "appointment.booked"));
  } catch (error) { notice(error); }
}

async function markNonBillable(event) {
  event.preventDefault();
  try {
    await session.api("calls", `/calls/${call.call_id}/non-billable`,
      { method: "POST", body: { reason: $("nonbillable-reason").value } });
    status(t("nonbillable.done"));
  } catch (error) { notice(error); }
}

async function loadCallbacks() {
  try {
    const open = await session.api("calendar", "/callbacks?status=open");
    render($("callbacks"), open.map((item) => [
      `${item.caller_name || item.caller_number} (${item.language})`, item.due_at, false]));
  } catch (error) { notice(error); }
}

async function loadConversations() {
  try {
    const open = await session.api("inbox", "/conversations?status=open");
    render($("conversations"), open.map((item) => [
      `${item.topic} (${item.language})`, item.due_at, item.escalated]));
  } catch (error) { notice(error); }
}

function render(target, rows) {
  target.replaceChildren();
  if (!rows.length) target.append(element("li", { class: "empty", text: t("lists.empty") }));
  for (const [text, due, late] of rows) {
    target.append(element("li", { class: late ? "late" : null }, element("span", { text }),
      element("span", { class: "due", text: `${late ? t("lists.escalated") : t("lists.due")} ${when(due)}` })));
  }
}

function status(text) {
  $("note-status").textContent = text;
}

function notice(error) {
  const box = $("notice");
  box.textContent = typeof error === "string" ? error : `${t("app.error")}: ${error.message}`;
  box.hidden = false;
}

main().catch(notice);
