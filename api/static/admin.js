// The bot's training page (/console/admin): the NLU inbox, examples per intent, and the history of changes.
// Works only through the admin API (/api/admin), with the session cookie and its CSRF token; console.js
// (loaded first) gives $, el, say and CSRF. Supervisors see everything and change nothing.
"use strict";

const CAN_EDIT = document.body.dataset.canEdit === "true";
const REASONS_INBOX = { fallback: "no lo entendió", low_confidence: "dudó", handoff: "siguió un traspaso" };
const ACTIONS = { add: "agregó", edit: "cambió", delete: "borró" };
let intents = [];

async function adminApi(method, path, body) {
  const response = await fetch(`/api/admin${path}`, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) { window.location = `/console/login?next=${encodeURIComponent(location.pathname)}`; }
  const data = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, data };
}

function adminProblem(result) {
  const detail = result.data && result.data.detail;
  if (detail && typeof detail === "object" && detail.message) return detail.message;
  return typeof detail === "string" ? detail : `Algo falló (${result.status}).`;
}

function intentSelect(selected, label) {
  const select = el("select");
  select.setAttribute("aria-label", label);
  intents.forEach((intent) => {
    const option = el("option", `${intent.name} (${intent.examples})`);
    option.value = intent.name;
    option.selected = intent.name === selected;
    select.append(option);
  });
  return select;
}

async function loadIntents() {
  const result = await adminApi("GET", "/nlu/intents");
  intents = result.ok ? result.data : [];
  const select = $("intent-select");
  const current = select.value || (intents[0] && intents[0].name);
  select.replaceChildren(...Array.from(intentSelect(current, "Intent").options));
  select.value = current;
}

// --- inbox -----------------------------------------------------------------------------------------------
async function loadInbox() {
  const result = await adminApi("GET", "/nlu/inbox");
  if (!result.ok) { say(adminProblem(result)); return; }
  const counts = Object.entries(result.data.waiting_by_intent).map(([name, count]) => `${name}: ${count}`);
  $("inbox-counts").textContent = counts.length ? `Por revisar — ${counts.join(" · ")}` : "Nada por revisar.";
  $("inbox-list").replaceChildren(...result.data.items.map(inboxItem));
}

function inboxItem(item) {
  const row = el("li", null, "inbox-item");
  row.tabIndex = 0;
  row.dataset.id = item.id;
  const text = el("input");
  text.value = item.text;
  text.setAttribute("aria-label", "Texto del ejemplo");
  text.readOnly = !CAN_EDIT;
  const guess = el("span", `${item.predicted_intent} · ${Math.round(item.confidence * 100)}% · ${REASONS_INBOX[item.reason] || item.reason}`, "note");
  const label = intentSelect(item.predicted_intent === "nlu_fallback" ? "" : item.predicted_intent, "Intent correcto");
  row.append(el("q", item.text, "said"), " ", text, " ", guess, " ", label);
  if (CAN_EDIT) {
    const accept = el("button", "Aceptar");
    accept.addEventListener("click", () => decide(row, "accept", { intent: label.value, text: text.value }));
    const dismiss = el("button", "Descartar");
    dismiss.addEventListener("click", () => decide(row, "dismiss"));
    row.append(" ", accept, " ", dismiss);
  }
  return row;
}

async function decide(row, action, body) {
  const result = await adminApi("POST", `/nlu/inbox/${row.dataset.id}/${action}`, body);
  if (!result.ok) { say(adminProblem(result)); return; }
  const next = row.nextElementSibling;
  row.remove();
  if (next) next.focus();
  await loadIntents(); // the counts changed; done before saying so, so nothing redraws the lists afterwards
  say(action === "dismiss" ? "Descartado." : result.data.status === "relabelled" ? "Guardado con otro intent." : "Guardado.");
}

document.addEventListener("keydown", (event) => {
  const row = document.activeElement && document.activeElement.closest && document.activeElement.closest(".inbox-item");
  if (!row || ["INPUT", "SELECT"].includes(document.activeElement.tagName)) return;
  if (event.key === "j" && row.nextElementSibling) row.nextElementSibling.focus();
  else if (event.key === "k" && row.previousElementSibling) row.previousElementSibling.focus();
  else if (event.key === "a" && CAN_EDIT) row.querySelector("button").click();
  else if (event.key === "d" && CAN_EDIT) row.querySelectorAll("button")[1].click();
});

// --- examples --------------------------------------------------------------------------------------------
async function loadExamples() {
  const intent = $("intent-select").value;
  const query = $("example-search").value.trim();
  const params = new URLSearchParams({ intent });
  if (query) params.set("q", query);
  const asked = (loadExamples.asked = (loadExamples.asked || 0) + 1);
  const result = await adminApi("GET", `/nlu/examples?${params}`);
  if (asked !== loadExamples.asked) return; // a newer question (another intent, more letters) is on its way
  if (!result.ok) { say(adminProblem(result)); return; }
  $("example-list").replaceChildren(...result.data.map(exampleItem));
}

function exampleItem(example) {
  const row = el("li");
  const text = el("input");
  text.value = example.text;
  text.readOnly = !CAN_EDIT;
  text.setAttribute("aria-label", "Ejemplo");
  row.append(text, " ", el("span", example.file, "note"));
  if (CAN_EDIT) {
    const save = el("button", "Guardar");
    save.addEventListener("click", async () => {
      const result = await adminApi("PUT", `/nlu/examples/${example.id}?intent=${encodeURIComponent(example.intent)}`, { text: text.value });
      if (result.status === 409) {
        say(`${adminProblem(result)} Así está ahora: ${result.data.detail.current.map((e) => e.text).join(" | ")}`);
        loadExamples();
        return;
      }
      say(result.ok ? "Guardado." : adminProblem(result));
      if (result.ok) loadExamples();
    });
    const remove = el("button", "Borrar");
    remove.addEventListener("click", async () => {
      const result = await adminApi("DELETE", `/nlu/examples/${example.id}?intent=${encodeURIComponent(example.intent)}`);
      say(result.ok ? "Borrado." : adminProblem(result));
      loadExamples();
    });
    row.append(" ", save, " ", remove);
  }
  return row;
}

$("example-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await adminApi("POST", "/nlu/examples", { intent: $("intent-select").value, text: $("example-new").value });
  say(result.ok ? "Agregado." : adminProblem(result));
  if (result.ok) { $("example-new").value = ""; loadExamples(); loadIntents(); }
});
$("example-add").hidden = !CAN_EDIT;
$("intent-select").addEventListener("change", loadExamples);
$("example-search").addEventListener("input", () => { clearTimeout(loadExamples.timer); loadExamples.timer = setTimeout(loadExamples, 250); });

// --- history ---------------------------------------------------------------------------------------------
async function loadHistory() {
  const result = await adminApi("GET", "/history");
  if (!result.ok) { say(adminProblem(result)); return; }
  $("history-list").replaceChildren(...result.data.map(historyItem));
}

function historyItem(change) {
  const row = el("li", null, "change");
  const when = new Date(change.at).toLocaleString("es");
  row.append(el("span", `${when} · persona ${change.user_id ?? "consola"} ${ACTIONS[change.action] || change.action} (${change.kind})`, "note"));
  const diff = el("div", null, "diff");
  if (change.before) diff.append(el("del", `${change.before.intent || ""}: ${change.before.text || change.before.name || ""}`));
  if (change.after) diff.append(el("ins", `${change.after.intent || ""}: ${change.after.text || change.after.name || ""}`));
  row.append(diff);
  if (CAN_EDIT && change.kind === "nlu_example") {
    const revert = el("button", "Deshacer");
    revert.addEventListener("click", async () => {
      const result = await adminApi("POST", `/history/${change.id}/revert`);
      say(result.ok ? "Deshecho." : adminProblem(result));
      loadHistory();
    });
    row.append(revert);
  }
  return row;
}

// --- tabs ------------------------------------------------------------------------------------------------
const PANELS = { "tab-inbox": loadInbox, "tab-examples": loadExamples, "tab-history": loadHistory };
document.querySelectorAll('[role="tab"]').forEach((tab) => {
  tab.addEventListener("click", () => {
    document.querySelectorAll('[role="tab"]').forEach((other) => {
      other.setAttribute("aria-selected", String(other === tab));
      $(other.getAttribute("aria-controls")).hidden = other !== tab;
    });
    PANELS[tab.id]();
  });
});

loadIntents().then(loadInbox);
