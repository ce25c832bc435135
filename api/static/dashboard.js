// The numbers page (/console/dashboard): reads GET /api/kpis with the session cookie (the API scopes it to the
// reader's creditors), shows the headline figures, draws the charts with the vendored Chart.js, and puts the
// same numbers in tables that download as CSV (built here; UTF-8 with a BOM so Excel reads the accents).
// console.js (loaded first) gives $, el, CSRF and reasonLabel. Data is only ever set as textContent.
"use strict";

const STAGES = { preventive: "Preventiva", early: "Temprana", late: "Tardía", severe: "Severa" };
const COUNTRIES = { MX: "México", CO: "Colombia", AR: "Argentina", CL: "Chile", PE: "Perú" };
const METHODS = {
  stripe: "Stripe", sandbox: "Sandbox (pruebas)", manual: "Manual", external_transfer: "Transferencia",
  external_cash: "Efectivo", external_deposit: "Depósito", external_card: "Tarjeta (fuera del bot)",
  external_other: "Otro (fuera del bot)",
};
const FILTERS = ["from", "to", "creditor", "country", "stage", "channel"];
const DASH = "—";
const ACCENT = "#0b6e4f";
const GREY = "#94a3b8";
const numberFormat = new Intl.NumberFormat("es-MX");
const moneyFormat = new Intl.NumberFormat("es-MX", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const percentFormat = new Intl.NumberFormat("es-MX", { maximumFractionDigits: 1 });
let current = null; // the last answer, to regroup the recovery chart without asking again

// --- formatting ----------------------------------------------------------------------------------------
const isNone = (value) => value === null || value === undefined;
const count = (value) => (isNone(value) ? DASH : numberFormat.format(value));
const percent = (rate) => (isNone(rate) ? DASH : `${percentFormat.format(rate * 100)} %`);
const percentValue = (rate) => (isNone(rate) ? "" : String(Math.round(rate * 10000) / 100)); // for the CSV
const money = (amount) => moneyFormat.format(Number(amount));
const cents = (amount) => Math.round(Number(amount) * 100);
const fromCents = (value) => (value / 100).toFixed(2);

function perCurrency(amounts) {
  const entries = Object.entries(amounts || {});
  return entries.length ? entries.map(([currency, amount]) => `${currency} ${money(amount)}`).join(" · ") : DASH;
}

function duration(seconds) {
  if (isNone(seconds)) return DASH;
  if (seconds < 60) return `${seconds} s`;
  const m = Math.round(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function days(value) {
  return isNone(value) ? DASH : `${percentFormat.format(value)} ${value === 1 ? "día" : "días"}`;
}

function todayUtc(offsetDays = 0) {
  const day = new Date(Date.now() + offsetDays * 86400000);
  return day.toISOString().slice(0, 10);
}

// --- filters and the API ---------------------------------------------------------------------------------
function field(name) { return $(`dash-${name}`); }

function readUrl() {
  const params = new URLSearchParams(location.search);
  FILTERS.forEach((name) => {
    const value = params.get(name);
    if (!value) return;
    const input = field(name);
    if (input.tagName === "SELECT" && !Array.from(input.options).some((o) => o.value === value)) {
      input.append(el("option", value)); // a link to a creditor not in the list: the API says whether it is theirs
      input.lastChild.value = value;
    }
    input.value = value;
  });
  if (!field("to").value) field("to").value = todayUtc();
  if (!field("from").value) field("from").value = todayUtc(-29); // the API's default: 30 days ending today
}

function chosen() {
  const params = new URLSearchParams();
  FILTERS.forEach((name) => { if (field(name).value) params.set(name, field(name).value); });
  return params;
}

function problemText(status, data) {
  const detail = data && data.detail;
  if (status === 404) return "Ese acreedor no existe o no está entre los tuyos.";
  if (status === 403) return "Estos números son para supervisión y administración.";
  if (status === 422) {
    if (typeof detail === "string") return `Revisa los filtros: ${detail.replace("`from`", "«Desde»").replace("`to`", "«Hasta»")}`;
    return "Revisa los filtros: hay una fecha u opción que no vale.";
  }
  return `No se pudieron cargar los números (${status}).`;
}

function setStatus(text, isError) {
  const status = $("dash-status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

async function load() {
  const params = chosen();
  history.replaceState(null, "", `${location.pathname}?${params}`);
  setStatus("Cargando…");
  let response;
  try {
    response = await fetch(`/api/kpis?${params}`, {
      credentials: "same-origin", headers: { Accept: "application/json", "X-CSRF-Token": CSRF },
    });
  } catch (error) {
    showProblem("No hay conexión con el servidor.");
    return;
  }
  if (response.status === 401) {
    window.location = `/console/login?next=${encodeURIComponent(location.pathname)}`;
    return;
  }
  const data = await response.json().catch(() => null);
  if (!response.ok || !data) { showProblem(problemText(response.status, data)); return; }
  current = data;
  render(data);
  $("dash-results").hidden = false;
  setStatus(`Del ${data.filters.from} al ${data.filters.to}.`);
}

function showProblem(text) {
  current = null;
  $("dash-results").hidden = true; // never numbers that do not match the filters shown
  setStatus(text, true);
}

// --- the headline numbers --------------------------------------------------------------------------------
function recoveryByCurrency(rows) {
  const totals = {};
  rows.forEach((row) => {
    const total = totals[row.currency] || (totals[row.currency] = { assigned: 0, collected: 0 });
    total.assigned += cents(row.assigned);
    total.collected += cents(row.collected);
  });
  return Object.keys(totals).sort().map((currency) => {
    const { assigned, collected } = totals[currency];
    return { currency, assigned, collected, rate: assigned ? collected / assigned : null };
  });
}

function headline(data) {
  const recovery = recoveryByCurrency(data.recovery);
  const recoveryText = recovery.length
    ? recovery.map((r) => `${r.currency} ${percent(r.rate)} (${money(fromCents(r.collected))} de ${money(fromCents(r.assigned))})`).join(" · ")
    : DASH;
  const { contact, promises, plans, handoffs, bot } = data;
  return [
    ["accounts", "Cuentas asignadas", count(data.accounts.assigned)],
    ["amount", "Monto asignado", perCurrency(data.accounts.amount_assigned)],
    ["contacted", "Cuentas contactadas", `${count(contact.accounts_contacted)} (${count(contact.debtors_contacted)} personas)`],
    ["rpc", "Contacto con el titular", `${percent(contact.right_party_contact_rate)} (${count(contact.right_party_contacts)} de ${count(contact.debtors_contacted)})`],
    ["recovery", "Recuperación", recoveryText],
    ["promises", "Promesas hechas / cumplidas", `${count(promises.made)} / ${count(promises.kept)} (${percent(promises.kept_rate)})`],
    ["plans", "Planes creados / al día", `${count(plans.created)} / ${count(plans.on_track)} (${percent(plans.on_track_rate)})`],
    ["handoff", "Derivación a personas", `${percent(handoffs.handoff_rate)} (${count(handoffs.handed_off)} de ${count(handoffs.conversations)})`],
    ["containment", "Contención del bot", `${percent(bot.containment_rate)} (${count(bot.contained)} de ${count(handoffs.conversations)})`],
    ["fallback", "Fallback del NLU", `${percent(bot.nlu_fallback_rate)} (${count(bot.nlu_fallbacks)} de ${count(bot.messages_classified)} mensajes)`],
    ["optouts", "Bajas", count(data.opt_outs)],
    ["first-payment", "Mediana de días al primer pago", days(data.median_days_to_first_payment)],
    ["handling", "Mediana de atención de agentes", duration(handoffs.median_agent_handling_seconds)],
  ];
}

function renderHeadline(data) {
  $("dash-headline").replaceChildren(...headline(data).map(([key, label, value]) => {
    const item = el("div", null, "kpi");
    item.dataset.kpi = key;
    item.append(el("dt", label), el("dd", value));
    return item;
  }));
}

// --- tables (each with its CSV) and charts ---------------------------------------------------------------
// A column: header, value(row) for the CSV (raw: "400.00", 40 for 40 %), text(row) for the screen.
function table(holder, name, caption, columns, rows) {
  const node = el("table", null, "kpi-table");
  node.append(el("caption", caption));
  const head = el("tr");
  columns.forEach((column) => {
    const th = el("th", column.header, column.numeric ? "number" : null);
    th.scope = "col";
    head.append(th);
  });
  node.append(el("thead"));
  node.tHead.append(head);
  const body = el("tbody");
  rows.forEach((row) => {
    const tr = el("tr");
    columns.forEach((column) => tr.append(el("td", column.text(row), column.numeric ? "number" : null)));
    body.append(tr);
  });
  if (!rows.length) {
    const empty = el("td", "Sin datos en este rango.", "empty");
    empty.colSpan = columns.length;
    const tr = el("tr");
    tr.append(empty);
    body.append(tr);
  }
  node.append(body);
  const download = el("button", "Descargar CSV");
  download.type = "button";
  download.setAttribute("aria-label", `Descargar CSV: ${caption}`);
  download.addEventListener("click", () => downloadCsv(name, columns, rows));
  holder.replaceChildren(node, download);
}

function csvField(value) {
  let text = isNone(value) ? "" : String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`; // no formulas in a spreadsheet
  return /[",\r\n;]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvText(columns, rows) {
  const lines = [columns.map((c) => csvField(c.header))];
  rows.forEach((row) => lines.push(columns.map((c) => csvField(c.value(row)))));
  return lines.map((line) => line.join(",")).join("\r\n") + "\r\n";
}

function downloadCsv(name, columns, rows) {
  const blob = new Blob(["\uFEFF", csvText(columns, rows)], { type: "text/csv;charset=utf-8" });
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  const range = current ? `-${current.filters.from}-a-${current.filters.to}` : "";
  link.download = `${name}${range}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function draw(canvasId, config) {
  const canvas = $(canvasId);
  const old = Chart.getChart(canvas);
  if (old) old.destroy();
  return new Chart(canvas, config);
}

function bars(canvasId, labels, values, label, options = {}) {
  return draw(canvasId, {
    type: "bar",
    data: { labels, datasets: [{ label, data: values, backgroundColor: ACCENT, maxBarThickness: 28 }] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, indexAxis: "y",
      plugins: { legend: { display: false }, tooltip: options.tooltip || {} },
      scales: { x: { beginAtZero: true, ...(options.x || {}) } },
    },
  });
}

const creditorName = (code) => {
  const option = Array.from(field("creditor").options).find((o) => o.value === code);
  return option ? option.textContent : code;
};
const GROUPS = {
  creditor: { header: "Acreedor", label: (row) => creditorName(row.creditor) },
  country: { header: "País", label: (row) => COUNTRIES[row.country] || row.country },
  stage: { header: "Etapa", label: (row) => STAGES[row.stage] || row.stage },
};

function recoveryGroups(rows, by) {
  // Money never adds up across currencies: one bar per group and currency.
  const groups = new Map();
  rows.forEach((row) => {
    const key = `${row[by]}\u0000${row.currency}`;
    if (!groups.has(key)) groups.set(key, { row, currency: row.currency, accounts: 0, assigned: 0, collected: 0 });
    const group = groups.get(key);
    group.accounts += row.accounts;
    group.assigned += cents(row.assigned);
    group.collected += cents(row.collected);
  });
  return [...groups.values()].map((g) => ({ ...g, rate: g.assigned ? g.collected / g.assigned : null }));
}

function renderRecovery(data) {
  const by = $("recovery-by").value;
  const group = GROUPS[by];
  const rows = recoveryGroups(data.recovery, by);
  const labels = rows.map((r) => `${group.label(r.row)} · ${r.currency}`);
  bars("chart-recovery", labels, rows.map((r) => (r.rate === null ? null : Math.round(r.rate * 1000) / 10)), "Recuperación (%)",
    { x: { max: 100, ticks: { callback: (value) => `${value} %` } },
      tooltip: { callbacks: { label: (item) => `${percentFormat.format(item.raw)} %` } } });
  table($("table-recovery"), `recuperacion-por-${by}`, `Recuperación por ${group.header.toLowerCase()}`, [
    { header: group.header, value: (r) => group.label(r.row), text: (r) => group.label(r.row) },
    { header: "Moneda", value: (r) => r.currency, text: (r) => r.currency },
    { header: "Cuentas", value: (r) => r.accounts, text: (r) => count(r.accounts), numeric: true },
    { header: "Asignado", value: (r) => fromCents(r.assigned), text: (r) => money(fromCents(r.assigned)), numeric: true },
    { header: "Cobrado", value: (r) => fromCents(r.collected), text: (r) => money(fromCents(r.collected)), numeric: true },
    { header: "Recuperación (%)", value: (r) => percentValue(r.rate), text: (r) => percent(r.rate), numeric: true },
  ], rows);
}

function renderPayments(data) {
  const rows = data.payments_by_method;
  const method = (r) => METHODS[r.method] || r.method;
  bars("chart-payments", rows.map((r) => `${method(r)} · ${r.currency}`), rows.map((r) => r.payments), "Pagos",
    { x: { ticks: { precision: 0 } } });
  table($("table-payments"), "pagos-por-medio", "Pagos por medio", [
    { header: "Medio", value: method, text: method },
    { header: "Moneda", value: (r) => r.currency, text: (r) => r.currency },
    { header: "Pagos", value: (r) => r.payments, text: (r) => count(r.payments), numeric: true },
    { header: "Monto", value: (r) => r.amount, text: (r) => money(r.amount), numeric: true },
  ], rows);
}

function renderReasons(data) {
  const rows = Object.entries(data.handoffs.reasons || {}).map(([reason, n]) => ({ reason, count: n }))
    .sort((a, b) => b.count - a.count);
  bars("chart-reasons", rows.map((r) => reasonLabel(r.reason)), rows.map((r) => r.count), "Derivaciones",
    { x: { ticks: { precision: 0 } } });
  table($("table-reasons"), "motivos-de-derivacion", "Derivaciones por motivo", [
    { header: "Motivo", value: (r) => reasonLabel(r.reason), text: (r) => reasonLabel(r.reason) },
    { header: "Derivaciones", value: (r) => r.count, text: (r) => count(r.count), numeric: true },
  ], rows);
}

function renderContainment(data) {
  const total = data.handoffs.conversations;
  const rows = [
    { outcome: "Resueltas por el bot", count: data.bot.contained, rate: data.bot.containment_rate },
    { outcome: "Derivadas a personas", count: data.handoffs.handed_off, rate: data.handoffs.handoff_rate },
  ];
  draw("chart-containment", {
    type: "doughnut",
    data: { labels: rows.map((r) => r.outcome), datasets: [{ data: rows.map((r) => r.count), backgroundColor: [ACCENT, GREY] }] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } },
  });
  table($("table-containment"), "contencion-del-bot", `Conversaciones con mensajes en el rango: ${count(total)}`, [
    { header: "Resultado", value: (r) => r.outcome, text: (r) => r.outcome },
    { header: "Conversaciones", value: (r) => r.count, text: (r) => count(r.count), numeric: true },
    { header: "Porcentaje (%)", value: (r) => percentValue(r.rate), text: (r) => percent(r.rate), numeric: true },
  ], total ? rows : []);
}

function renderDaily(data) {
  const rows = data.daily || [];
  draw("chart-daily", {
    type: "line",
    data: {
      labels: rows.map((r) => r.day),
      datasets: [
        { label: "Contactos", data: rows.map((r) => r.contacts), borderColor: ACCENT, backgroundColor: ACCENT, tension: 0.2 },
        { label: "Pagos", data: rows.map((r) => r.payments), borderColor: GREY, backgroundColor: GREY, tension: 0.2 },
      ],
    },
    options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const collected = (r) => Object.entries(r.collected || {}).map(([currency, amount]) => `${amount} ${currency}`).join(", ");
  table($("table-daily"), "por-dia", "Contactos, pagos y cobrado por día (UTC)", [
    { header: "Día", value: (r) => r.day, text: (r) => r.day },
    { header: "Contactos", value: (r) => r.contacts, text: (r) => count(r.contacts), numeric: true },
    { header: "Pagos", value: (r) => r.payments, text: (r) => count(r.payments), numeric: true },
    { header: "Cobrado", value: collected, text: (r) => collected(r) || "—" },
  ], rows);
}

function render(data) {
  renderHeadline(data);
  renderDaily(data);
  renderRecovery(data);
  renderPayments(data);
  renderReasons(data);
  renderContainment(data);
}

// --- start ---------------------------------------------------------------------------------------------
readUrl();
$("dash-filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
$("recovery-by").addEventListener("change", () => { if (current) renderRecovery(current); });
if (typeof Chart === "undefined") setStatus("No se pudo cargar la biblioteca de gráficos.", true);
else load();
