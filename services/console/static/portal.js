// The client portal: the client's own calls and messages (searchable) and its invoices with
// their PDFs. Every request goes to the services as the signed-in client user, so another
// client's data is refused there (an invoice id of someone else's is a 404), not hidden here.
import { LANGUAGES, language, pickLanguage, setLanguage, t, translate, when } from "./i18n.js";
import { element, signIn } from "./session.js";

const $ = (id) => document.getElementById(id);
let session = null;
let messages = [];

async function main() {
  pickLanguage();
  translate(document);
  const picker = $("language");
  for (const code of LANGUAGES) picker.append(element("option", { value: code, text: code.toUpperCase() }));
  picker.value = language();
  picker.addEventListener("change", () => { setLanguage(picker.value); show(); });
  session = await signIn();
  $("who").textContent = `${t("app.signed_in_as")} ${session.name}`;
  $("who").removeAttribute("data-t");
  $("sign-out").addEventListener("click", () => session.signOut());
  $("search").addEventListener("input", showMessages);
  window.addEventListener("hashchange", show);
  $("preferences").addEventListener("submit", savePreferences);
  $("change-form").addEventListener("submit", requestChange);
  $("book-version").addEventListener("change", () => loadBook($("book-version").value));
  await Promise.all([loadMessages(), loadInvoices(), loadSent(), loadPunchCard(), loadVersions(),
    loadPreferences(), loadChanges()]);
  await show();
}

const mine = () => encodeURIComponent(session.clientId);

async function loadSent() {
  try {
    const sent = await session.api("notify", `/clients/${mine()}/notifications`);
    const target = $("sent");
    target.replaceChildren();
    if (!sent.length) target.append(element("li", { class: "empty", text: t("portal.none") }));
    for (const item of sent.slice(-20).reverse()) {
      target.append(element("li", { class: "message" },
        element("strong", { text: `${when(item.created_at)} · ${item.subject}` }),
        element("p", { text: `${item.recipients.join(", ")} · ${t(`delivery.${item.state}`)}` })));
    }
  } catch (error) { notice(error); }
}

async function loadPunchCard() {
  try {
    const wallet = await session.api("billing", `/clients/${mine()}/punch-card`);
    $("punch-card").textContent = `${t("portal.balance")} ${money(wallet.balance_cents)}`;
  } catch (error) {
    if (error.status === 404) $("punch-card").textContent = t("portal.no_punch_card");
    else notice(error);
  }
}

async function loadVersions() {
  try {
    const versions = await session.api("intake", `/clients/${mine()}/book/versions`);
    const picker = $("book-version");
    picker.replaceChildren();
    for (const version of versions.slice().reverse()) {
      picker.append(element("option", { value: version.revised_at,
        text: `${version.book_version} · ${when(version.revised_at)}` }));
    }
    if (versions.length) await loadBook(null);
  } catch (error) {
    if (error.status !== 404) notice(error);
  }
}

async function loadBook(asOf) {
  try {
    const query = asOf ? `?as_of=${encodeURIComponent(asOf)}` : "";
    const book = await session.api("intake", `/clients/${mine()}/book${query}`);
    const target = $("book");
    target.replaceChildren(
      element("p", {}, element("span", { class: "label", text: `${t("call.say")}: ` }),
        element("q", { text: book.greeting })),
      element("p", { class: "instructions", text: book.instructions }));
    if (book.urgency_rules.length) {
      const rules = element("ul");
      for (const rule of book.urgency_rules) {
        rules.append(element("li", { text: `${rule.description} (${rule.channels.join(", ")})` }));
      }
      target.append(element("h3", { text: t("call.urgent") }), rules);
    }
    if (book.faq.length) {
      const faq = element("div", { class: "faq" });
      for (const entry of book.faq) {
        faq.append(element("details", {}, element("summary", { text: entry.question }),
          element("p", { text: entry.answer })));
      }
      target.append(element("h3", { text: t("call.faq") }), faq);
    }
  } catch (error) { notice(error); }
}

async function loadChanges() {
  try {
    const asked = await session.api("intake", `/clients/${mine()}/book/change-requests`);
    const target = $("changes");
    target.replaceChildren();
    for (const change of asked.slice().reverse()) {
      target.append(element("li", {}, element("strong", { text: when(change.requested_at) }),
        element("p", { text: change.text })));
    }
  } catch (error) { notice(error); }
}

async function requestChange(event) {
  event.preventDefault();
  const text = $("change-text").value.trim();
  if (!text) return $("change-text").focus();
  try {
    await session.api("intake", `/clients/${mine()}/book/change-requests`, { method: "POST", body: { text } });
    $("change-text").value = "";
    $("change-status").textContent = t("portal.change_sent");
    await loadChanges();
  } catch (error) { notice(error); }
}

async function loadPreferences() {
  try {
    const client = await session.api("intake", `/clients/${mine()}`);
    const prefs = client.notification;
    for (const radio of document.querySelectorAll("input[name=mode]")) radio.checked = radio.value === prefs.mode;
    $("digest_time").value = prefs.digest_time.slice(0, 5);
    $("recipients").value = prefs.recipients.join("\n");
  } catch (error) { notice(error); }
}

async function savePreferences(event) {
  event.preventDefault();
  const mode = document.querySelector("input[name=mode]:checked");
  const body = {
    mode: mode ? mode.value : "daily_digest",
    recipients: $("recipients").value.split(/[\s,;]+/).filter(Boolean),
    digest_time: $("digest_time").value,
  };
  try {
    await session.api("intake", `/clients/${mine()}/notification`, { method: "PUT", body });
    $("preferences-status").textContent = t("portal.saved");
  } catch (error) { notice(error); }
}

async function loadMessages() {
  try {
    const calls = await session.api("calls", "/calls?limit=50");
    const details = await Promise.all(calls.slice(-50).reverse().map(
      (call) => session.api("calls", `/calls/${call.call_id}`)));
    messages = details.map((detail) => {
      const note = detail.history.filter((entry) => entry.type === "NoteRecorded").pop();
      return { at: detail.received_at, note: note ? note.event : null, caller: detail.caller_number };
    });
  } catch (error) { notice(error); }
}

function showMessages() {
  const needle = $("search").value.trim().toLowerCase();
  const target = $("calls");
  target.replaceChildren();
  const shown = messages.filter((m) => !needle || JSON.stringify(m.note || {}).toLowerCase().includes(needle));
  if (!shown.length) target.append(element("li", { class: "empty", text: t("portal.none") }));
  for (const m of shown) {
    const who = m.note ? [m.note.caller_name, m.note.caller_company].filter(Boolean).join(", ") : m.caller || "–";
    target.append(element("li", { class: "message" },
      element("strong", { text: `${when(m.at)} · ${who}` }),
      element("p", { text: m.note ? m.note.message : "" })));
  }
}

let invoices = [];
let creditNotes = [];

async function loadInvoices() {
  try {
    [invoices, creditNotes] = await Promise.all([session.api("billing", "/invoices"),
      session.api("billing", "/credit-notes")]);
  } catch (error) { notice(error); }
}

function money(cents) {
  return new Intl.NumberFormat(language(), { style: "currency", currency: "EUR" }).format(cents / 100);
}

async function show() {
  showMessages();
  const body = $("invoices");
  body.replaceChildren();
  if (!invoices.length) body.append(element("tr", {}, element("td", { colspan: "4", text: t("portal.none") })));
  for (const invoice of invoices) {
    const open = element("a", { href: `#invoice=${invoice.invoice_id}`, text: invoice.invoice_number });
    const pdf = element("button", { type: "button", text: t("portal.pdf"),
      "aria-label": `${t("portal.pdf")}: ${t("portal.invoice")} ${invoice.invoice_number}` });
    pdf.addEventListener("click", () => download(`/invoices/${invoice.invoice_id}.pdf`, invoice.invoice_number));
    body.append(element("tr", {}, element("td", {}, open), element("td", { text: money(invoice.total_cents) }),
      element("td", { text: t(`state.${invoice.state}`) }), element("td", {}, pdf)));
  }
  const notes = $("credit-notes");
  notes.replaceChildren();
  if (!creditNotes.length) notes.append(element("tr", {}, element("td", { colspan: "3", text: t("portal.none") })));
  for (const note of creditNotes) {
    const pdf = element("button", { type: "button", text: t("portal.pdf"),
      "aria-label": `${t("portal.pdf")}: ${t("portal.credit_note")} ${note.credit_note_number}` });
    pdf.addEventListener("click", () => download(`/credit-notes/${note.credit_note_id}.pdf`, note.credit_note_number));
    notes.append(element("tr", {}, element("td", { text: note.credit_note_number }),
      element("td", { text: money(note.total_cents) }), element("td", {}, pdf)));
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("invoice");
  if (wanted) await showInvoice(wanted);
}

async function showInvoice(id) {
  try {
    const invoice = await session.api("billing", `/invoices/${encodeURIComponent(id)}`);
    $("notice").hidden = true;
    const detail = $("invoice-detail") || element("section", { id: "invoice-detail", class: "panel", "aria-live": "polite" });
    const lines = element("tbody");
    for (const line of invoice.lines) {
      lines.append(element("tr", {}, element("td", { text: line.description }),
        element("td", { class: "number", text: String(line.quantity) }),
        element("td", { class: "number", text: money(line.amount_cents) })));
    }
    detail.replaceChildren(
      element("h2", { text: `${t("portal.invoice")} ${invoice.invoice_number}` }),
      element("p", { text: `${t("portal.period")} ${invoice.period} · ${t(`state.${invoice.state}`)}` }),
      element("table", {}, element("thead", {}, element("tr", {},
        element("th", { text: t("portal.line") }), element("th", { class: "number", text: t("portal.quantity") }),
        element("th", { class: "number", text: t("portal.amount") }))), lines),
      element("p", { class: "total", text: `${t("portal.vat")} ${money(invoice.vat_cents)} · ${t("portal.total")} ${money(invoice.total_cents)} · ${t("portal.outstanding")} ${money(invoice.outstanding_cents)}` }));
    document.querySelector("main").append(detail);
  } catch (error) { notice(error); }
}

async function download(path, number) {
  try {
    const blob = await session.download("billing", path);
    const link = element("a", { href: URL.createObjectURL(blob), download: `${number}.pdf` });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) { notice(error); }
}

function notice(error) {
  const box = $("notice");
  box.textContent = `${t("app.error")}: ${error.message || error}`;
  box.hidden = false;
}

main().catch(notice);
