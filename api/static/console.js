// The agent console: plain JavaScript over the agent API (/api/agent), with the session cookie and its CSRF
// token. Live updates come from /api/agent/stream (Server-Sent Events). Text from debtors is only ever set as
// textContent, never as HTML.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const PAGE = document.body.dataset.page;

const REASONS = {
  debtor_request: "Pidió una persona", bot_error: "Falla del bot", identity_review: "Revisión de identidad",
  identity_locked: "Verificación bloqueada", identity_unverified: "Sin verificar", already_paid: "Dice que ya pagó",
  overpayment: "Pagó de más", dispute: "Disputa", hardship: "Dificultad económica",
  repeated_fallback: "El bot no le entendió", plan_outside_policy: "Plan fuera de política",
  plan_refused_twice: "Rechazó dos planes", plan_refused: "Rechazó los planes posibles",
  settlement_offer: "Ofrece liquidar con descuento", upset: "Molesto", plan_unavailable: "Sin plan posible", promise_too_far: "Promesa lejana",
  payment_link_unavailable: "Sin enlace de pago", callback: "Volver a contactar", offer_accepted: "Aceptó hablar con alguien",
};
const POLICY = {
  too_many_installments: "Más cuotas de las que puedes ofrecer", down_payment_too_small: "Pago inicial menor al mínimo",
  down_payment_out_of_range: "Pago inicial fuera de rango", frequency_not_allowed: "Frecuencia no permitida",
  first_date_in_the_past: "La primera fecha ya pasó", first_payment_too_late: "El primer pago queda muy lejos",
  installment_too_small: "Cuotas por debajo del mínimo", installments_below_one: "Al menos una cuota",
  discount_too_large: "Descuento mayor al que puedes dar", amount_out_of_range: "Monto fuera de rango",
  amount_not_in_currency_units: "Monto con decimales de más", not_allowed: "No permitido",
};
const CONFLICTS = {
  whatsapp_window_closed: "Pasaron más de 24 horas desde su último mensaje: WhatsApp solo permite plantillas aprobadas.",
  opted_out: "Esta persona pidió no recibir mensajes.", claim_first: "Primero toma la conversación.",
  not_handed_off: "La conversación ya no está con el equipo.", not_claimed: "Nadie la tiene tomada.",
  held_by_another_agent: "Otra persona la tiene.", unknown_template: "Esa plantilla no está aprobada.",
};
const DELIVERY = {
  queued: "en cola", sending: "enviando", sent: "enviado", delivered: "entregado", read: "leído",
  failed: "no se entregó", undelivered: "no se entregó", received: "", processed: "", pending: "esperando al bot",
};
const AGREEMENTS = { pending: "vigente", kept: "cumplido", broken: "incumplido", cancelled: "cancelado" };
const MODES = { bot: "Con el bot", queued: "En espera", agent: "Con una persona", closed: "Cerrada" };

const $ = (id) => document.getElementById(id);
const reasonLabel = (r) => (r && r.startsWith("keyword:") ? `Palabra clave: ${r.slice(8)}` : REASONS[r] || r || "—");

function say(text) {
  const status = $("status");
  status.textContent = text;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { status.textContent = ""; }, 6000);
}

async function api(method, path, body) {
  const response = await fetch(`/api/agent${path}`, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) { window.location = `/console/login?next=${encodeURIComponent(location.pathname)}`; }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, data };
}

function problem(result) {
  const detail = result.data && result.data.detail;
  if (detail && typeof detail === "object" && detail.reason) {
    if (detail.reason === "not_in_queue") return detail.assigned_to ? `Ya la tomó ${detail.assigned_to}.` : "Ya no está en espera.";
    if (detail.reason === "outside_policy") return detail.reasons.map((r) => POLICY[r] || r).join(" · ");
    return CONFLICTS[detail.reason] || detail.reason;
  }
  if (Array.isArray(detail)) return "Revisa los datos del formulario.";
  return typeof detail === "string" ? detail : `Algo falló (${result.status}).`;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function live(onChange) {
  let timer = null;
  const source = new EventSource("/api/agent/stream");
  source.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(onChange, 150); });
  return source;
}

function minutes(seconds) {
  if (seconds < 60) return "menos de 1 min";
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

// --- the queue ---------------------------------------------------------------------------------------
function queuePage() {
  let tab = "queue";
  let entries = { queue: [], mine: [] };
  let seen = null;
  let selected = 0;

  function beep() {
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      tone.frequency.value = 880;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch (error) { /* no sound available */ }
  }

  function announce(fresh) {
    beep();
    say(fresh.length === 1 ? "Llegó una conversación nueva" : `Llegaron ${fresh.length} conversaciones nuevas`);
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification("Acuerdo: nueva conversación", { body: fresh[0].summary });
    }
  }

  function fillFilter(select, values, label) {
    const current = select.value;
    select.replaceChildren(el("option", "Todos"));
    select.firstChild.value = "";
    [...new Set(values)].sort().forEach((value) => {
      const option = el("option", label ? label(value) : value);
      option.value = value;
      select.append(option);
    });
    select.value = current;
  }

  function render() {
    const list = $("queue-list");
    const reason = $("filter-reason").value, country = $("filter-country").value, creditor = $("filter-creditor").value;
    const shown = tab === "mine" ? entries.mine : entries.queue.filter((e) =>
      (!reason || e.reason === reason) && (!country || e.country === country)
      && (!creditor || e.creditors.includes(creditor)));
    list.replaceChildren();
    shown.forEach((entry, index) => {
      const card = el("li", null, "card");
      card.tabIndex = 0;
      card.dataset.id = entry.id;
      card.setAttribute("aria-selected", index === selected ? "true" : "false");
      const title = el("a", tab === "mine" ? `Conversación ${entry.id}` : reasonLabel(entry.reason));
      title.href = `/console/conversations/${entry.id}`;
      const side = el("span");
      if (tab === "queue") {
        side.append(el("span", `espera ${minutes(entry.waiting_seconds)}`, "badge"));
        if (entry.overdue) side.append(" ", el("span", "atrasada", "badge overdue"));
        const claim = el("button", "Tomar");
        claim.type = "button";
        claim.addEventListener("click", () => take(entry.id));
        side.append(" ", claim);
      } else if (entry.unread) {
        side.append(el("span", `${entry.unread} sin leer`, "badge overdue"));
      }
      card.append(title, side, el("span", entry.summary, "summary-line"));
      list.append(card);
    });
    $("queue-empty").hidden = shown.length > 0;
    $("count-queue").textContent = entries.queue.length;
    $("count-mine").textContent = entries.mine.length;
  }

  async function refresh() {
    const [queue, mine] = await Promise.all([api("GET", "/queue"), api("GET", "/mine")]);
    if (!queue.ok || !mine.ok) return;
    entries = { queue: queue.data, mine: mine.data };
    const ids = new Set(entries.queue.map((e) => e.id));
    if (seen !== null) {
      const fresh = entries.queue.filter((e) => !seen.has(e.id));
      if (fresh.length) announce(fresh);
    }
    seen = ids;
    fillFilter($("filter-reason"), entries.queue.map((e) => e.reason), reasonLabel);
    fillFilter($("filter-country"), entries.queue.map((e) => e.country));
    fillFilter($("filter-creditor"), entries.queue.flatMap((e) => e.creditors));
    render();
  }

  async function take(id) {
    const result = await api("POST", `/conversations/${id}/claim`);
    if (result.ok) { window.location = `/console/conversations/${id}`; } else { say(problem(result)); refresh(); }
  }

  document.querySelectorAll("[role=tab]").forEach((button) => button.addEventListener("click", () => {
    tab = button.dataset.tab;
    selected = 0;
    document.querySelectorAll("[role=tab]").forEach((b) => b.setAttribute("aria-selected", String(b === button)));
    render();
  }));
  ["filter-reason", "filter-country", "filter-creditor"].forEach((id) => $(id).addEventListener("change", render));
  $("notify").addEventListener("click", async () => {
    if ("Notification" in window) say((await Notification.requestPermission()) === "granted" ? "Avisos activados" : "Avisos no permitidos");
  });
  document.addEventListener("keydown", (event) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName)) return;
    const cards = [...document.querySelectorAll(".card")];
    if (!cards.length) return;
    if (event.key === "j" || event.key === "k") {
      selected = Math.max(0, Math.min(cards.length - 1, selected + (event.key === "j" ? 1 : -1)));
      render();
      document.querySelectorAll(".card")[selected].focus();
    } else if (event.key === "Enter") {
      window.location = `/console/conversations/${cards[selected].dataset.id}`;
    } else if (event.key === "t" && tab === "queue") {
      take(Number(cards[selected].dataset.id));
    }
  });
  refresh();
  live(refresh);
}

// --- one conversation --------------------------------------------------------------------------------
const GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

function segments(text) {
  const gsm = [...text].every((c) => GSM.includes(c) || "^{}\\[~]|€".includes(c));
  const length = [...text].length;
  const single = gsm ? 160 : 70, part = gsm ? 153 : 67;
  return length === 0 ? 0 : length <= single ? 1 : Math.ceil(length / part);
}

function conversationPage() {
  const id = document.body.dataset.conversation;
  let view = null;
  let previewed = null;

  function renderTranscript() {
    const list = $("transcript");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren(...view.transcript.map((m) => {
      const failed = m.status === "failed" || m.status === "undelivered";
      const item = el("li", m.body || (m.media.length ? "📎 (archivo adjunto)" : ""), `msg ${m.direction}${failed ? " failed" : ""}`);
      const when = new Date(m.created_at).toLocaleString("es", { dateStyle: "short", timeStyle: "short" });
      const status = DELIVERY[m.status] ? ` · ${DELIVERY[m.status]}` : "";
      item.append(el("span", `${when}${status}${failed && m.error_code ? ` (error ${m.error_code})` : ""}`, "delivery"));
      return item;
    }));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderFacts() {
    $("accounts").replaceChildren(...view.accounts.map((a) => el("li",
      `${a.creditor} · ${a.product} ${a.external_id}: ${a.total_display} (${a.days_past_due} días de atraso)${a.collection_paused_reason ? ` · pausada: ${a.collection_paused_reason}` : ""}`)));
    const history = [
      ...view.payments.map((p) => `Pago ${p.amount} ${p.currency} el ${new Date(p.paid_at).toLocaleDateString("es")}`),
      ...view.plans.map((p) => `Plan de ${p.installments.length} pagos por ${p.total} (${AGREEMENTS[p.status] || p.status})`),
      ...view.promises.map((p) => `Promesa para el ${p.promised_date}${p.amount ? ` de ${p.amount}` : ""} (${AGREEMENTS[p.status] || p.status})`),
    ];
    $("history").replaceChildren(...(history.length ? history : ["Sin pagos, planes ni promesas."]).map((t) => el("li", t)));
    $("notes").replaceChildren(...view.notes.map((n) => el("li", `${n.author}: ${n.body}`)));
    const account = $("offer-account");
    if (!account.options.length) {
      view.accounts.filter((a) => a.status === "active").forEach((a) => {
        const option = el("option", `${a.product} ${a.external_id} · ${a.total_display}`);
        option.value = a.id;
        account.append(option);
      });
    }
  }

  function renderHeader() {
    const last = view.handoffs[view.handoffs.length - 1];
    $("who").textContent = view.debtor ? view.debtor.name : `Sin verificar · ${view.phone}`;
    const told = last ? last.facts.map((f) => [f.settlement_offer && `ofrece liquidar con ${f.settlement_offer}`,
      f.date && `fecha ${f.date}`, f.amount && `monto ${f.amount}`,
      f.attachments && `${f.attachments} adjunto${f.attachments === 1 ? "" : "s"}`].filter(Boolean).join(", ")) : [];
    $("handoff-summary").textContent = last ? `${reasonLabel(last.reason)} · desde ${new Date(last.requested_at).toLocaleString("es")}`
      + (told.length ? ` · Informó: ${told.join("; ")}` : "") : "";
    $("mode").textContent = MODES[view.mode] || view.mode;
    $("holder").textContent = view.assigned_to ? `Atiende: ${view.assigned_to}` : "";
    const left = view.whatsapp_window_seconds_left;
    $("window").textContent = left === null ? "SMS" : left > 0 ? `Ventana de WhatsApp: ${minutes(left)}` : "Ventana de WhatsApp cerrada";
    const closed = view.channel === "whatsapp" && left === 0;
    $("reply").hidden = closed;
    $("template-picker").hidden = !closed;
    if (closed) {
      $("window-closed").textContent = CONFLICTS.whatsapp_window_closed;
      const picker = $("template");
      if (!picker.options.length) {
        view.templates.forEach((t) => { const o = el("option", t.template); o.value = t.template; picker.append(o); });
        renderTemplateVariables();
      }
    }
    $("claim").hidden = view.mode !== "queued";
  }

  function renderTemplateVariables() {
    const chosen = view.templates.find((t) => t.template === $("template").value);
    $("template-variables").replaceChildren(...(chosen ? chosen.variables : []).map((name) => {
      const label = el("label", `${name} `);
      const input = el("input");
      input.name = name;
      input.required = true;
      if (name === "first_name" && view.debtor) input.value = view.debtor.name.split(" ")[0];
      label.append(input);
      return label;
    }));
  }

  async function refresh() {
    const result = await api("GET", `/conversations/${id}`);
    if (!result.ok) { say(problem(result)); return; }
    view = result.data;
    renderHeader();
    renderTranscript();
    renderFacts();
  }

  async function act(path, body, done) {
    const result = await api("POST", `/conversations/${id}${path}`, body);
    if (!result.ok) { say(problem(result)); } else if (done) { done(result.data); }
    await refresh();
    return result;
  }

  $("claim").addEventListener("click", () => act("/claim", undefined, () => say("La conversación es tuya.")));
  $("release").addEventListener("click", () => act("/release", undefined, () => say("Volvió a la bandeja.")));
  $("return").addEventListener("click", () => act("/return", undefined, () => say("El bot vuelve a atender.")));
  $("close").addEventListener("click", () => act("/close", undefined, () => say("Conversación cerrada.")));

  const text = $("reply-text");
  text.addEventListener("input", () => {
    const count = [...text.value].length;
    $("segments").textContent = `${count} caracteres · ${segments(text.value)} SMS`;
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); $("reply").requestSubmit(); }
  });
  $("reply").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!text.value.trim()) return;
    const result = await act("/messages", { text: text.value }, () => say("Mensaje enviado."));
    if (result.ok) { text.value = ""; text.dispatchEvent(new Event("input")); }
  });
  $("canned").addEventListener("change", () => {
    const option = $("canned").selectedOptions[0];
    if (option && option.dataset.text) { text.value = option.dataset.text; text.dispatchEvent(new Event("input")); text.focus(); }
  });
  $("template").addEventListener("change", renderTemplateVariables);
  $("template-picker").addEventListener("submit", async (event) => {
    event.preventDefault();
    const variables = Object.fromEntries([...$("template-variables").querySelectorAll("input")].map((i) => [i.name, i.value]));
    await act("/messages", { template: $("template").value, variables }, () => say("Plantilla enviada."));
  });

  function offerBody() {
    const kind = $("offer-kind").value;
    const body = { kind, account_id: Number($("offer-account").value) };
    if (kind === "plan") {
      Object.assign(body, { installments: Number($("offer-installments").value), down_payment: $("offer-down").value || "0",
        first_date: $("offer-first").value, frequency: $("offer-frequency").value });
    } else if ($("offer-amount").value) {
      body.amount = $("offer-amount").value;
    }
    return body;
  }
  function offerChanged() { previewed = null; $("offer-send").disabled = true; $("offer-answer").replaceChildren(); }
  $("offer-kind").addEventListener("change", () => {
    const plan = $("offer-kind").value === "plan";
    $("plan-fields").hidden = !plan;
    $("amount-field").hidden = plan;
    offerChanged();
  });
  $("offer").querySelectorAll("input, select").forEach((input) => input.addEventListener("input", offerChanged));
  const first = new Date(Date.now() + 5 * 86400000);
  $("offer-first").value = first.toISOString().slice(0, 10);
  $("offer-check").addEventListener("click", async () => {
    const body = offerBody();
    const result = await api("POST", `/conversations/${id}/offers/preview`, body);
    const answer = $("offer-answer");
    if (!result.ok) { answer.replaceChildren(el("p", problem(result), "refused")); return; }
    const preview = result.data;
    if (preview.allowed) {
      answer.replaceChildren(el("p", `Dentro de tu política. Primer pago: ${preview.amount_display}.`, "allowed"),
        ...preview.schedule.map((s) => el("p", `${s.number === 0 ? "Pago inicial" : `Cuota ${s.number}`}: ${s.amount_display} el ${s.due_date}`)));
      previewed = JSON.stringify(body);
      $("offer-send").disabled = false;
    } else {
      answer.replaceChildren(el("p", `La política no lo permite: ${preview.reasons.map((r) => POLICY[r] || r).join(" · ")}`, "refused"),
        el("p", `Pago único mínimo que puedes ofrecer: ${preview.lowest_settlement_display}`));
    }
  });
  $("offer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = offerBody();
    if (previewed !== JSON.stringify(body)) { say("Revisa la oferta con la política antes de enviarla."); return; }
    await act("/offers", body, (offer) => { say("Oferta enviada con su enlace de pago."); $("offer-answer").replaceChildren(el("p", `Enlace enviado: ${offer.payment_url}`, "allowed")); });
    $("offer-send").disabled = true;
  });

  $("outcome-kind").addEventListener("change", () => { $("outcome-when").hidden = $("outcome-kind").value !== "callback"; });
  $("outcome").addEventListener("submit", async (event) => {
    event.preventDefault();
    const kind = $("outcome-kind").value;
    const body = { kind };
    if (kind === "callback") body.callback_at = new Date($("outcome-when").value).toISOString();
    await act("/outcome", body, () => say("Resultado guardado."));
  });
  $("note").addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = $("note-text");
    if (!note.value.trim()) return;
    const result = await act("/notes", { text: note.value }, () => say("Nota guardada."));
    if (result.ok) note.value = "";
  });

  api("GET", `/conversations/${id}/canned`).then((result) => {
    if (!result.ok) return;
    result.data.forEach((reply) => { const o = el("option", reply.title); o.value = reply.id; o.dataset.text = reply.text; $("canned").append(o); });
  });
  refresh();
  live(refresh);
}

// --- supervision -------------------------------------------------------------------------------------
function supervisionPage() {
  async function refresh() {
    const result = await api("GET", "/overview");
    if (!result.ok) { say(problem(result)); return; }
    const people = result.data;
    $("people").replaceChildren(...people.map((person) => {
      const card = el("section", null, "card");
      card.append(el("h2", `${person.email} · ${person.conversations.length} en curso`));
      const list = el("ul");
      person.conversations.forEach((c) => {
        const item = el("li");
        const link = el("a", c.summary);
        link.href = `/console/conversations/${c.id}`;
        const select = el("select");
        select.setAttribute("aria-label", `Reasignar conversación ${c.id}`);
        people.filter((p) => p.email !== person.email).forEach((p) => { const o = el("option", p.email); o.value = p.email; select.append(o); });
        const move = el("button", "Reasignar");
        move.type = "button";
        move.addEventListener("click", async () => {
          const moved = await api("POST", `/conversations/${c.id}/assign`, { email: select.value });
          say(moved.ok ? `Ahora la atiende ${select.value}.` : problem(moved));
          refresh();
        });
        item.append(link, " ", el("span", c.unread ? `${c.unread} sin leer` : "", "badge"), " ", select, " ", move);
        list.append(item);
      });
      card.append(list);
      return card;
    }));
  }
  refresh();
  live(refresh);
}

if (PAGE === "queue") queuePage();
if (PAGE === "conversation") conversationPage();
if (PAGE === "supervision") supervisionPage();
