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
  await Promise.all([loadMessages(), loadInvoices()]);
  await show();
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

async function loadInvoices() {
  try {
    invoices = await session.api("billing", "/invoices");
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
    pdf.addEventListener("click", () => download(invoice.invoice_id, invoice.invoice_number));
    body.append(element("tr", {}, element("td", {}, open), element("td", { text: money(invoice.total_cents) }),
      element("td", { text: t(`state.${invoice.state}`) }), element("td", {}, pdf)));
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

async function download(id, number) {
  try {
    const blob = await session.download("billing", `/invoices/${id}.pdf`);
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
