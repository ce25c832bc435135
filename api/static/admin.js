// The bot's tuning page (/console/admin): the NLU inbox, examples per intent, the replies (with a live preview
// per country), the limits and rules files, conversation review (a wrong bot turn → a test story), the
// history of changes, and the models (train, compare with the live one, activate, roll back).
// Works only through the admin API (/api/admin), with the session cookie and its CSRF token; console.js
// (loaded first) gives $, el, say and CSRF. Supervisors see everything and change nothing.
"use strict";

const CAN_EDIT = document.body.dataset.canEdit === "true";
const REASONS_INBOX = { fallback: "no lo entendió", low_confidence: "dudó", handoff: "siguió un traspaso" };
const ACTIONS = { add: "agregó", edit: "cambió", delete: "borró" };
let intents = [];
let entities = [];

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

// Select words in an example's box, pick the entity, and they are written the Rasa way: [el viernes](date).
function entityMarker(input) {
  const marker = el("span", null, "marker");
  const which = el("select");
  which.setAttribute("aria-label", "Entidad");
  entities.forEach((name) => { const option = el("option", name); option.value = name; which.append(option); });
  const mark = el("button", "Marcar entidad");
  mark.type = "button";
  mark.addEventListener("click", () => {
    const start = input.selectionStart, end = input.selectionEnd;
    const chosen = input.value.slice(start, end);
    if (start === end || !chosen.trim() || /[\[\]()]/.test(chosen)) { say("Selecciona en el texto las palabras de la entidad."); return; }
    input.value = `${input.value.slice(0, start)}[${chosen}](${which.value})${input.value.slice(end)}`;
    input.focus();
    say(`Marcado: ${chosen} → ${which.value}.`);
  });
  marker.append(which, " ", mark);
  return marker;
}

async function loadEntities() {
  const result = await adminApi("GET", "/nlu/entities");
  entities = result.ok ? result.data : [];
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
    row.append(" ", entityMarker(text));
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
    row.append(" ", entityMarker(text));
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
$("intent-add").hidden = !CAN_EDIT;
$("intent-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("intent-new").value.trim();
  const result = await adminApi("POST", "/nlu/intents", { name });
  if (!result.ok) { say(adminProblem(result)); return; }
  $("intent-new").value = "";
  await loadIntents();
  $("intent-select").value = name;
  loadExamples();
  say(`Intent ${name} creado: agrégale ejemplos.`);
});
$("intent-select").addEventListener("change", loadExamples);
$("example-search").addEventListener("input", () => { clearTimeout(loadExamples.timer); loadExamples.timer = setTimeout(loadExamples, 250); });

// --- replies ---------------------------------------------------------------------------------------------
let reply = null; // { name, version, variables } of the reply being edited

async function loadReplies() {
  const query = $("reply-search").value.trim();
  const asked = (loadReplies.asked = (loadReplies.asked || 0) + 1);
  const result = await adminApi("GET", `/replies${query ? `?q=${encodeURIComponent(query)}` : ""}`);
  if (asked !== loadReplies.asked) return;
  if (!result.ok) { say(adminProblem(result)); return; }
  $("reply-list").replaceChildren(...result.data.map((found) => {
    const open = el("button", found.name);
    open.type = "button";
    open.addEventListener("click", () => openReply(found.name));
    const item = el("li");
    item.append(open);
    return item;
  }));
}

async function openReply(name) {
  const result = await adminApi("GET", `/replies/${encodeURIComponent(name)}`);
  if (!result.ok) { say(adminProblem(result)); return; }
  showReply(result.data);
  $("reply-conflict").hidden = true;
}

function showReply(data) {
  reply = { name: data.name, version: data.version, variables: data.variables };
  $("reply-editor").hidden = false;
  $("reply-name").textContent = data.name;
  $("reply-variables").textContent = data.variables.length
    ? `Variables que recibe: ${data.variables.map((v) => `{${v}}`).join(" ")}` : "Esta respuesta no recibe variables.";
  $("variation-list").replaceChildren(...data.variations.map(variationItem));
  numberVariations();
  showPreview(data.previews, null);
}

function conditionLabel(condition) {
  if (!condition.length) return "Sin condición";
  return `Si ${condition.map((c) => `${c.name} = ${JSON.stringify(c.value)}`).join(" y ")}`;
}

function variationItem(variation) {
  const row = el("li", null, "variation");
  row.dataset.condition = JSON.stringify(variation.condition || []);
  const text = el("textarea");
  text.rows = 3;
  text.value = variation.text;
  text.readOnly = !CAN_EDIT;
  text.addEventListener("input", schedulePreview);
  row.append(el("span", conditionLabel(variation.condition || []), "note"), text, el("p", null, "field-error"));
  if (CAN_EDIT) {
    const remove = el("button", "Quitar");
    remove.type = "button";
    remove.addEventListener("click", () => { row.remove(); numberVariations(); schedulePreview(); });
    row.append(remove);
  }
  return row;
}

function numberVariations() {
  document.querySelectorAll("#variation-list .variation").forEach((row, index) => {
    row.querySelector("textarea").setAttribute("aria-label", `Variación ${index + 1}`);
  });
}

function variationsInEditor() {
  return Array.from(document.querySelectorAll("#variation-list .variation")).map((row) => ({
    text: row.querySelector("textarea").value, condition: JSON.parse(row.dataset.condition),
  }));
}

function schedulePreview() { clearTimeout(schedulePreview.timer); schedulePreview.timer = setTimeout(refreshPreview, 200); }

async function refreshPreview() {
  const variations = variationsInEditor();
  if (!reply || !variations.length) return;
  const asked = (refreshPreview.asked = (refreshPreview.asked || 0) + 1);
  const result = await adminApi("POST", `/replies/${encodeURIComponent(reply.name)}/preview`, { variations });
  if (asked !== refreshPreview.asked || !result.ok) return;
  showPreview(result.data.previews, result.data.problem);
}

function showPreview(previews, problem) {
  $("reply-preview").replaceChildren(...previews.map((p) => {
    const size = el("td", `${p.segments} SMS · ${p.units} caracteres ${p.encoding}`, p.segments > 2 ? "over" : null);
    const line = el("tr");
    line.append(el("td", `${p.country} (${p.locale})`), el("td", p.text), size);
    return line;
  }));
  showProblem(problem);
}

function showProblem(problem) {
  const rows = document.querySelectorAll("#variation-list .variation");
  rows.forEach((row) => { row.querySelector(".field-error").textContent = ""; });
  if (!problem) return;
  if (typeof problem.field !== "string") { say("Revisa los textos: alguno está vacío o es demasiado largo."); return; }
  const index = Number((problem.field.split(".")[1]));
  const where = Number.isInteger(index) && rows[index] ? rows[index] : rows[rows.length - 1];
  if (where) where.querySelector(".field-error").textContent = problem.message;
}

$("reply-search").addEventListener("input", () => { clearTimeout(loadReplies.timer); loadReplies.timer = setTimeout(loadReplies, 250); });
$("variation-add").hidden = !CAN_EDIT;
$("reply-save").hidden = !CAN_EDIT;
$("variation-add").addEventListener("click", () => {
  $("variation-list").append(variationItem({ text: "", condition: [] }));
  numberVariations();
});
$("reply-editor").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await adminApi("PUT", `/replies/${encodeURIComponent(reply.name)}`, { variations: variationsInEditor(), version: reply.version });
  if (result.status === 422) {
    const detail = result.data && result.data.detail;
    if (detail && typeof detail.field === "string") { showProblem(detail); say("No se guardó: revisa el aviso junto al texto."); }
    else say("No se guardó: alguna variación está vacía o es demasiado larga.");
    return;
  }
  if (result.status === 409) {
    // The merge view: what the reply says now; the admin's text stays in the boxes, saving again replaces it.
    const now = result.data.detail.reply;
    $("reply-conflict").textContent = `${adminProblem(result)}\nAsí está ahora:\n${now.variations.map((v) => `• ${v.text}`).join("\n")}`;
    $("reply-conflict").hidden = false;
    reply.version = now.version;
    return;
  }
  if (!result.ok) { say(adminProblem(result)); return; }
  showReply(result.data);
  $("reply-conflict").hidden = true;
  say("Guardado.");
});

// --- limits and rules (config files) ---------------------------------------------------------------------
const FILE_NAMES = { policy: "Límites de negociación", canned_replies: "Respuestas rápidas", handoff: "Palabras de traspaso", campaigns: "Recordatorios (campañas)" };
let file = null; // { name, version }

async function loadFiles() {
  const select = $("file-select");
  if (!select.options.length) {
    const result = await adminApi("GET", "/config");
    if (!result.ok) { say(adminProblem(result)); return; }
    result.data.forEach((name) => {
      const option = el("option", FILE_NAMES[name] || name);
      option.value = name;
      select.append(option);
    });
  }
  const result = await adminApi("GET", `/config/${select.value}`);
  if (!result.ok) { say(adminProblem(result)); return; }
  file = { name: result.data.name, version: result.data.version };
  $("file-text").value = result.data.text;
  $("file-problem").hidden = true;
  $("file-conflict").hidden = true;
}

$("file-text").readOnly = !CAN_EDIT;
$("file-save").hidden = !CAN_EDIT;
$("file-select").addEventListener("change", loadFiles);
$("file-editor").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await adminApi("PUT", `/config/${file.name}`, { text: $("file-text").value, version: file.version });
  $("file-problem").hidden = result.status !== 422;
  if (result.status === 422) { $("file-problem").textContent = result.data.detail.message; say("No se guardó."); return; }
  if (result.status === 409) {
    $("file-conflict").textContent = `${adminProblem(result)}\nAsí está ahora:\n${result.data.detail.text}`;
    $("file-conflict").hidden = false;
    file.version = result.data.detail.version;
    return;
  }
  if (!result.ok) { say(adminProblem(result)); return; }
  file.version = result.data.version;
  $("file-conflict").hidden = true;
  say("Guardado.");
});

// --- conversation review -------------------------------------------------------------------------------
const OUTCOMES = { plan: "plan de pagos", promise: "promesa", payment_link: "enlace de pago", handoff: "traspaso" };
let answers = null;

async function loadReview() {
  const intentFilter = $("review-intent");
  if (intentFilter.options.length === 1) {
    intents.forEach((intent) => { const option = el("option", intent.name); option.value = intent.name; intentFilter.append(option); });
  }
  const params = new URLSearchParams();
  [["outcome", "review-outcome"], ["intent", "review-intent"], ["handoff_reason", "review-reason"], ["country", "review-country"]]
    .forEach(([name, id]) => { if ($(id).value.trim()) params.set(name, $(id).value.trim()); });
  const result = await adminApi("GET", `/review/conversations?${params}`);
  if (!result.ok) { say(adminProblem(result)); return; }
  $("review-list").replaceChildren(...result.data.map((found) => {
    const outcomes = found.outcomes.map((o) => OUTCOMES[o] || o).join(", ") || "sin resultado";
    const open = el("button", `#${found.id} · ${found.country || "?"} · ${found.channel} · ${outcomes}`);
    open.type = "button";
    open.addEventListener("click", () => openTranscript(found.id));
    const item = el("li");
    item.append(open);
    return item;
  }));
  if (!result.data.length) say("Ninguna conversación con esos filtros.");
}

async function openTranscript(conversationId) {
  const result = await adminApi("GET", `/review/conversations/${conversationId}`);
  if (!result.ok) { say(adminProblem(result)); return; }
  if (answers === null) {
    const listed = await adminApi("GET", "/review/answers");
    answers = listed.ok ? listed.data : [];
  }
  const summary = result.data.conversation;
  $("review-title").textContent = `Conversación #${summary.id} · ${summary.country || "?"} · traspasos: ${summary.handoff_reasons.join(", ") || "ninguno"}`;
  $("review-turns").replaceChildren(...result.data.turns.map((turn) => turnItem(conversationId, turn)));
  $("review-story").hidden = true;
  $("review-transcript").hidden = false;
}

function turnItem(conversationId, turn) {
  const row = el("li", null, turn.direction);
  row.append(el("span", turn.text));
  if (turn.intent) row.append(" ", el("span", `${turn.intent} · ${Math.round(turn.confidence * 100)}%`, "note"));
  if (CAN_EDIT && turn.direction === "outbound") {
    const wrong = el("button", "Marcar como error");
    wrong.type = "button";
    wrong.addEventListener("click", () => {
      wrong.hidden = true;
      const intended = el("select");
      intended.setAttribute("aria-label", "Respuesta correcta");
      answers.forEach((name) => { const option = el("option", name); option.value = name; intended.append(option); });
      const save = el("button", "Guardar historia de prueba");
      save.type = "button";
      save.addEventListener("click", async () => {
        const result = await adminApi("POST", `/review/conversations/${conversationId}/messages/${turn.message_id}/wrong`, { intended: intended.value });
        if (!result.ok) { say(adminProblem(result)); return; }
        $("review-story").textContent = `${result.data.file}\n${result.data.text}`;
        $("review-story").hidden = false;
        save.disabled = true;
        say("Historia de prueba guardada.");
      });
      row.append(" ", intended, " ", save);
    });
    row.append(" ", wrong);
  }
  return row;
}

$("review-filters").addEventListener("submit", (event) => { event.preventDefault(); loadReview(); });

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
  row.append(changeDiff(change));
  const undoable = change.kind !== "intent" && !(change.kind === "test_story" && change.action !== "add");
  if (CAN_EDIT && undoable) {
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

function changeDiff(change) {
  const diff = el("div", null, "diff");
  if (change.kind === "reply") { // one line per variation that differs
    const before = (change.before.variations || []).map((v) => v.text);
    const after = (change.after.variations || []).map((v) => v.text);
    before.filter((text) => !after.includes(text)).forEach((text) => diff.append(el("del", `${change.target}: ${text}`)));
    after.filter((text) => !before.includes(text)).forEach((text) => diff.append(el("ins", `${change.target}: ${text}`)));
  } else if (change.kind === "test_story") {
    const story = (change.after || change.before).story;
    diff.append(el(change.after ? "ins" : "del", `historia de prueba: ${story}`));
  } else if (change.kind.startsWith("config:")) { // the lines of the file that differ
    const before = (change.before.text || "").split("\n");
    const after = (change.after.text || "").split("\n");
    before.filter((line) => !after.includes(line)).forEach((line) => diff.append(el("del", line)));
    after.filter((line) => !before.includes(line)).forEach((line) => diff.append(el("ins", line)));
  } else {
    if (change.before) diff.append(el("del", `${change.before.intent || ""}: ${change.before.text || change.before.name || ""}`));
    if (change.after) diff.append(el("ins", `${change.after.intent || ""}: ${change.after.text || change.after.name || ""}`));
  }
  return diff;
}

// --- models ----------------------------------------------------------------------------------------------
// Train (a job whose epochs the page follows), compare each kept model with the live one, activate one (a
// refusal shows why, and an override needs its own reason), roll back. Only admins of every creditor may.
const JOB_KINDS = { train: "Entrenar", evaluate: "Evaluar", activate: "Activar", rollback: "Volver al anterior" };
const JOB_STATUS = { queued: "en cola", running: "en curso", done: "terminado", failed: "falló" };
const STAGES = { starting: "Preparando", loading: "Cargando el modelo en el servidor de reserva", parsing: "Probando los ejemplos", stories: "Probando las historias", done: "Listo" };
const SCORE_ROWS = [ // [metric as the gate names it, label, how to read it from Scores, its detail]
  ["macro_f1", "macro-F1", (s) => s.macro_f1, null],
  ["accuracy", "Exactitud", (s) => s.accuracy, null],
  ["stories", "Historias de prueba", (s) => s.stories && s.stories.accuracy, (s) => s.stories && `${s.stories.passed} de ${s.stories.total}`],
  ["labelled", "Ejemplos etiquetados por el equipo", (s) => s.labelled && s.labelled.accuracy, (s) => s.labelled && `${s.labelled.correct} de ${s.labelled.total}`],
];
const following = new Map(); // job id → the timer of its next poll
const jobActive = (job) => job.status === "queued" || job.status === "running";
const score = (value) => (typeof value === "number" ? value.toFixed(3) : "—");
const stageLabel = (stage) => (stage ? STAGES[stage] || `Entrenando ${stage}` : "Empezando"); // else a Rasa component
let modelAction = null; // { kind: "evaluate" | "activate", name } of the open form

async function loadModels() {
  const asked = (loadModels.asked = (loadModels.asked || 0) + 1);
  const result = await adminApi("GET", "/models");
  if (asked !== loadModels.asked) return;
  if (!result.ok) { say(adminProblem(result)); return; }
  const data = result.data;
  $("live-model").textContent = data.live.model || "ninguno";
  $("live-previous").textContent = data.live.previous_model || "ninguno";
  $("live-url").textContent = data.live.url;
  $("standby-missing").hidden = data.standby_configured;
  $("rollback-submit").disabled = !data.live.previous_model || !data.standby_configured;
  $("models-list").replaceChildren(...data.models.map((model) => modelRow(model, data)));
  if (!data.models.length) {
    const none = el("td", "Aún no hay modelos guardados.", "note");
    none.colSpan = 6;
    const row = el("tr");
    row.append(none);
    $("models-list").append(row);
  }
  $("model-evaluations").replaceChildren(...data.models.filter((model) => model.evaluation).map((model) => evaluationView(model.evaluation)));
  $("model-jobs").replaceChildren(...data.jobs.map(jobItem));
  showTraining(data.jobs.find((job) => job.kind === "train") || null);
  data.jobs.filter(jobActive).forEach(follow);
}

function modelRow(model, data) {
  const row = el("tr");
  row.dataset.model = model.name;
  const name = el("th", model.name);
  name.scope = "row";
  const state = el("td");
  if (model.live) state.append(el("span", "activo", "badge live"), " ");
  if (model.previous) state.append(el("span", "anterior", "badge"), " ");
  if (model.evaluation) {
    const passes = model.evaluation.passes;
    state.append(el("span", passes ? "evaluado: pasa" : "evaluado: no pasa", passes ? "badge passes" : "badge fails"));
  }
  const who = model.trained_by ? ` · persona ${model.trained_by}` : "";
  row.append(name, el("td", new Date(model.trained_at).toLocaleString("es")),
    el("td", model.training_seconds === null ? "—" : String(Math.round(model.training_seconds)), "number"),
    el("td", model.reason ? `${model.reason}${who}` : "—"), state);
  if (CAN_EDIT) {
    const actions = el("td");
    const evaluate = el("button", "Evaluar");
    evaluate.type = "button";
    evaluate.disabled = model.live || !data.standby_configured || !data.live.model;
    evaluate.addEventListener("click", () => openModelAction("evaluate", model.name));
    const activate = el("button", "Activar");
    activate.type = "button";
    activate.disabled = model.live || !data.standby_configured;
    activate.addEventListener("click", () => openModelAction("activate", model.name));
    actions.append(evaluate, " ", activate);
    row.append(actions);
  }
  return row;
}

function openModelAction(kind, name) {
  modelAction = { kind, name };
  $("model-action-title").textContent = kind === "activate" ? `Activar ${name}` : `Evaluar ${name} frente al modelo activo`;
  $("model-action-submit").textContent = kind === "activate" ? `Activar ${name}` : `Evaluar ${name}`;
  $("model-refusal").hidden = true;
  $("model-override").hidden = true;
  $("model-override-reason").required = false;
  $("model-override-reason").value = "";
  $("model-action-problem").hidden = true;
  $("model-action").hidden = false;
  $("model-action-reason").focus();
}

function closeModelAction() {
  modelAction = null;
  $("model-action").hidden = true;
  $("model-action-reason").value = "";
}

function modelProblem(result) {
  return result.status === 422 ? "Escribe un motivo de al menos 3 caracteres." : adminProblem(result);
}

function regressionText(regression) {
  return `${metricLabel(regression.metric)}: activo ${score(regression.live)} → nuevo ${score(regression.candidate)}`;
}

function metricLabel(metric) {
  if (metric.startsWith("intent:")) return `F1 de ${metric.slice(7)}`;
  const known = SCORE_ROWS.find(([name]) => name === metric);
  return known ? known[1] : metric;
}

// The gate said no: why, and the override (with its own reason, kept in the audit log).
function showRefusal(data) {
  const refusal = $("model-refusal");
  const regressions = (data.evaluation && data.evaluation.regressions) || [];
  const list = el("ul");
  list.append(...regressions.map((regression) => el("li", regressionText(regression))));
  refusal.replaceChildren(el("p", data.detail), list);
  refusal.hidden = false;
  $("model-override").hidden = false;
  $("model-override-reason").required = true;
  $("model-override-reason").focus();
  $("model-action-submit").textContent = "Activar igual";
}

async function modelRequest(path, body, done) {
  const result = await adminApi("POST", `/models${path}`, body);
  if (!result.ok) return result;
  say(done);
  loadModels();
  return result;
}

$("model-action").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!modelAction) return;
  const { kind, name } = modelAction;
  const body = { reason: $("model-action-reason").value.trim() };
  if (kind === "activate" && !$("model-override").hidden) body.override_reason = $("model-override-reason").value.trim();
  const done = kind === "activate" ? `Activación de ${name} en cola.` : `Evaluación de ${name} en cola.`;
  const result = await modelRequest(`/${encodeURIComponent(name)}/${kind}`, body, done);
  if (result.status === 409 && result.data && result.data.code === "worse") { showRefusal(result.data); return; }
  if (!result.ok) {
    $("model-action-problem").textContent = modelProblem(result);
    $("model-action-problem").hidden = false;
    return;
  }
  closeModelAction();
});
$("model-action-cancel").addEventListener("click", closeModelAction);

$("train-form").hidden = !CAN_EDIT;
$("train-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await modelRequest("/train", { reason: $("train-reason").value.trim() }, "Entrenamiento en cola.");
  if (!result.ok) { say(modelProblem(result)); return; }
  $("train-reason").value = "";
});

$("rollback-form").hidden = !CAN_EDIT;
$("rollback-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await modelRequest("/rollback", { reason: $("rollback-reason").value.trim() }, "Vuelta al modelo anterior en cola.");
  if (!result.ok) { say(modelProblem(result)); return; }
  $("rollback-reason").value = "";
});
$("models-actions").hidden = !CAN_EDIT;

// The newest train job: its live progress bar while it runs, its error if it failed.
function showTraining(job) {
  const running = job !== null && jobActive(job);
  $("train-progress").hidden = !running;
  $("train-failed").hidden = !(job && job.status === "failed");
  $("train-error").textContent = job && job.status === "failed" ? job.error || "sin detalle" : "";
  $("train-submit").disabled = running;
  if (!running) return;
  const progress = job.progress || {};
  const bar = $("train-bar");
  if (progress.epochs) { bar.max = progress.epochs; bar.value = progress.epoch || 0; }
  else bar.removeAttribute("value"); // no epochs yet: a bar that only says it is busy
  const stage = stageLabel(progress.stage);
  $("train-stage").textContent = job.status === "queued" ? "En cola: empieza cuando termine el trabajo anterior."
    : progress.epochs ? `${stage} · época ${progress.epoch} de ${progress.epochs}` : `${stage}…`;
}

// A queued or running job, asked about every 1.5 s while the tab is open; when it ends, everything is reloaded.
function follow(job) {
  if (following.has(job.id)) return;
  const poll = async () => {
    if ($("models-panel").hidden) { following.delete(job.id); return; } // the tab reloads and follows it again
    const result = await adminApi("GET", `/models/jobs/${job.id}`);
    if (!result.ok) { following.delete(job.id); say(adminProblem(result)); return; }
    const now = result.data;
    const shown = document.querySelector(`#model-jobs [data-job="${now.id}"]`);
    if (shown) shown.replaceWith(jobItem(now));
    const newestTrain = document.querySelector("#model-jobs [data-kind='train']");
    if (now.kind === "train" && newestTrain && newestTrain.dataset.job === String(now.id)) showTraining(now);
    if (jobActive(now)) { following.set(job.id, setTimeout(poll, 1500)); return; }
    following.delete(job.id);
    say(`${JOB_KINDS[now.kind] || now.kind} #${now.id}: ${JOB_STATUS[now.status] || now.status}.`);
    loadModels();
  };
  following.set(job.id, setTimeout(poll, 1500));
}

function jobItem(job) {
  const row = el("li", null, `job ${job.status}`);
  row.dataset.job = job.id;
  row.dataset.kind = job.kind;
  const when = new Date(job.created_at).toLocaleString("es");
  const what = `#${job.id} · ${JOB_KINDS[job.kind] || job.kind}${job.model ? ` ${job.model}` : ""}`;
  row.append(el("strong", what), " ", el("span", JOB_STATUS[job.status] || job.status, `badge ${job.status}`),
    " ", el("span", `${when} · persona ${job.requested_by ?? "consola"}`, "note"));
  const progress = job.progress || {};
  if (job.status === "running" && progress.stage) {
    const epochs = progress.epochs ? ` · época ${progress.epoch} de ${progress.epochs}` : "";
    row.append(" ", el("span", `${stageLabel(progress.stage)}${epochs}`, "note"));
  }
  if (job.reason) row.append(el("span", `Motivo: ${job.reason}`, "job-line"));
  if (job.override_reason) row.append(el("span", `Activado pese a la evaluación: ${job.override_reason}`, "job-line warning"));
  if (job.status === "failed" && job.error) row.append(el("pre", job.error, "job-error"));
  return row;
}

// --- an evaluation: the table, the chart, the confusions ---
function evaluationView(evaluation) {
  const box = el("section", null, "evaluation");
  box.dataset.model = evaluation.candidate;
  const regressed = new Map(evaluation.regressions.map((regression) => [regression.metric, regression]));
  box.append(el("h3", `Evaluación de ${evaluation.candidate} frente al activo ${evaluation.live}`));
  box.append(evaluation.passes
    ? el("p", "Pasa: no es peor que el modelo activo.", "allowed")
    : el("p", `No pasa: es peor en ${evaluation.regressions.length === 1 ? "1 medida" : `${evaluation.regressions.length} medidas`} (marcadas abajo).`, "refused"));
  box.append(el("p", `Con ${evaluation.heldout_count} ejemplos apartados y ${evaluation.labelled_count} etiquetados por el equipo.${marginText(evaluation)}`, "note"));
  const side = el("div", null, "evaluation-split");
  side.append(scoresTable(evaluation, regressed), intentChart(evaluation, regressed));
  const confusions = el("div", null, "confusions");
  confusions.append(confusionList(`Confusiones del activo (${evaluation.live})`, evaluation.live_scores.confusions),
    confusionList(`Confusiones del nuevo (${evaluation.candidate})`, evaluation.candidate_scores.confusions));
  box.append(side, confusions);
  return box;
}

function marginText(evaluation) {
  const margins = evaluation.margins;
  if (margins && typeof margins === "object") return ` Margen: ${margins.overall} en general, ${margins.intent} por intent.`;
  return typeof evaluation.margin === "number" ? ` Margen: ${evaluation.margin}.` : "";
}

function intentsOf(evaluation) {
  const names = new Set([...Object.keys(evaluation.live_scores.per_intent), ...Object.keys(evaluation.candidate_scores.per_intent)]);
  return Array.from(names).sort();
}

function scoresTable(evaluation, regressed) {
  const table = el("table", null, "scores");
  table.append(el("caption", `Métricas: activo ${evaluation.live} y nuevo ${evaluation.candidate}`));
  const head = el("tr");
  ["Métrica", "Activo", "Nuevo"].forEach((label) => { const cell = el("th", label); cell.scope = "col"; head.append(cell); });
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  const older = evaluation.live_scores, newer = evaluation.candidate_scores;
  SCORE_ROWS.forEach(([metric, label, read, detail]) => {
    if (read(older) === undefined && read(newer) === undefined) return; // an older evaluation without it
    body.append(scoreRow(metric, label, read(older), read(newer), detail && detail(older), detail && detail(newer), regressed));
  });
  intentsOf(evaluation).forEach((intent) => {
    body.append(scoreRow(`intent:${intent}`, `F1 de ${intent}`, older.per_intent[intent], newer.per_intent[intent], null, null, regressed));
  });
  table.append(thead, body);
  return table;
}

function scoreRow(metric, label, liveValue, candidateValue, liveDetail, candidateDetail, regressed) {
  const row = el("tr");
  row.dataset.metric = metric;
  const name = el("th", label);
  name.scope = "row";
  const newer = el("td", score(candidateValue), "number");
  if (candidateDetail) newer.append(el("span", ` (${candidateDetail})`, "note"));
  if (regressed.has(metric)) {
    row.className = "regression";
    newer.append(" ", el("strong", "▼ peor"));
  }
  const older = el("td", score(liveValue), "number");
  if (liveDetail) older.append(el("span", ` (${liveDetail})`, "note"));
  row.append(name, older, newer);
  return row;
}

// Per intent, two bars (live, new) on a 0–1 scale: plain elements, their widths set through the style object.
function intentChart(evaluation, regressed) {
  const figure = el("figure", null, "intent-chart");
  const caption = el("figcaption", "F1 por intent: activo frente a nuevo");
  const legend = el("p", null, "legend");
  legend.append(el("span", null, "swatch live"), ` activo (${evaluation.live}) `, el("span", null, "swatch candidate"), ` nuevo (${evaluation.candidate})`);
  legend.setAttribute("aria-hidden", "true");
  figure.append(caption, legend);
  intentsOf(evaluation).forEach((intent) => {
    const worse = regressed.has(`intent:${intent}`);
    const row = el("div", null, worse ? "bar-row regression" : "bar-row");
    row.dataset.intent = intent;
    row.append(el("span", worse ? `${intent} ▼ peor` : intent, "bar-label"));
    const bars = el("div", null, "bars");
    [["live", "activo", evaluation.live_scores], ["candidate", "nuevo", evaluation.candidate_scores]].forEach(([which, label, scores]) => {
      const value = scores.per_intent[intent];
      const line = el("div", null, "bar-line");
      const track = el("span", null, "track");
      const bar = el("span", null, `bar ${which}`);
      bar.style.width = `${Math.round(Math.max(0, Math.min(1, value || 0)) * 1000) / 10}%`;
      track.append(bar);
      const shown = el("span", null, "bar-value");
      shown.append(el("span", `${label} `, "sr-only"), score(value));
      line.append(track, shown);
      bars.append(line);
    });
    row.append(bars);
    figure.append(row);
  });
  return figure;
}

function confusionList(title, confusions) {
  const box = el("section", null, "confusion");
  box.append(el("h4", title));
  const list = el("ol");
  (confusions || []).slice(0, 5).forEach((pair) => {
    const item = el("li", `${pair.expected} → ${pair.predicted}: ${pair.count} ${pair.count === 1 ? "vez" : "veces"}`);
    const examples = (pair.examples || []).slice(0, 3);
    if (examples.length) item.append(el("span", examples.map((text) => `«${text}»`).join(" · "), "job-line note"));
    list.append(item);
  });
  box.append(list.children.length ? list : el("p", "Ninguna confusión.", "note"));
  return box;
}

// --- tabs ------------------------------------------------------------------------------------------------
const PANELS = { "tab-inbox": loadInbox, "tab-examples": loadExamples, "tab-replies": loadReplies, "tab-files": loadFiles, "tab-review": loadReview, "tab-history": loadHistory, "tab-models": loadModels };
document.querySelectorAll('[role="tab"]').forEach((tab) => {
  tab.addEventListener("click", () => {
    document.querySelectorAll('[role="tab"]').forEach((other) => {
      other.setAttribute("aria-selected", String(other === tab));
      $(other.getAttribute("aria-controls")).hidden = other !== tab;
    });
    PANELS[tab.id]();
  });
});

Promise.all([loadIntents(), loadEntities()]).then(loadInbox);
