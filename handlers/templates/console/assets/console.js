// Latchkey console: enhancements only. Every action works without this
// script (forms and links); it adds copy buttons, inline warnings on the
// client form as values change, and the audit log's live tail. It never
// writes HTML from data: text only.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  clientFormWarnings();
  liveTail();
});

// Copy buttons: data-copy names the element whose text is copied.
function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch {
        // No clipboard (an insecure origin, a denied permission): select
        // the text so that the user can copy it.
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        button.textContent = "Selected: copy it";
      }
    });
  }
}

const unitSeconds = { seconds: 1, minutes: 60, hours: 3600, days: 86400 };

function seconds(valueId, unitId) {
  const value = Number(document.getElementById(valueId)?.value);
  const unit = unitSeconds[document.getElementById(unitId)?.value] || 0;
  return Number.isFinite(value) ? value * unit : 0;
}

// The client form's warnings, graded as the server grades them (the
// thresholds come from the form's data attributes): the refresh-token
// lifetime, and full access with long-lived access tokens.
function clientFormWarnings() {
  const form = document.getElementById("client-form");
  if (!form) return;
  const warnDays = Number(form.dataset.warnDays);
  const highDays = Number(form.dataset.highDays);
  const highRisk = Number(form.dataset.highRiskSeconds);
  const refreshWarning = document.getElementById("refresh-warning");
  const riskWarning = document.getElementById("risk-warning");
  const update = () => {
    const on = document.getElementById("issue_refresh_tokens")?.checked;
    const days = seconds("refresh_token_lifetime_value", "refresh_token_lifetime_unit") / 86400;
    const shown = Math.round(days * 100) / 100;
    let level = "", text = "";
    if (on && days > 0) {
      if (days <= warnDays) {
        level = "info";
        text = `Note: refresh tokens stay usable for ${shown} days`;
      } else if (days <= highDays) {
        level = "warning";
        text = `Warning: refresh tokens stay usable for ${shown} days: a leaked one gives long access; prefer ${warnDays} days or less`;
      } else {
        level = "high";
        text = `High risk: refresh tokens stay usable for ${shown} days: rotate credentials on a schedule or shorten the lifetime`;
      }
    }
    refreshWarning.className = level ? "warning " + level : "";
    refreshWarning.dataset.level = level;
    refreshWarning.textContent = text;
    const full = document.getElementById("preset-full")?.checked;
    riskWarning.hidden = !(full && seconds("access_token_lifetime_value", "access_token_lifetime_unit") > highRisk);
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}

// The audit log's live tail: Server-Sent Events from the page's stream
// URL (which resumes after the newest entry the page shows; the browser
// resumes after the last id it received when the connection drops). New
// entries go to the top of the table.
function liveTail() {
  const live = document.getElementById("live");
  const toggle = document.getElementById("live-toggle");
  const rows = document.getElementById("audit-rows");
  if (!live || !toggle || !rows) return;
  const status = document.getElementById("live-status");
  let source = null;
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    if (source) {
      source.close();
      source = null;
      toggle.textContent = "Follow live";
      status.textContent = "Stopped.";
      return;
    }
    source = new EventSource(live.dataset.stream);
    toggle.textContent = "Stop following";
    status.textContent = "Connecting…";
    source.onopen = () => { status.textContent = "Following new entries as they happen."; };
    source.onerror = () => { status.textContent = "Connection lost; reconnecting…"; };
    source.onmessage = (ev) => {
      let entry;
      try { entry = JSON.parse(ev.data); } catch { return; }
      rows.querySelector("tr.none")?.remove();
      rows.prepend(entryRow(entry));
    };
  });
}

function entryRow(entry) {
  const tr = document.createElement("tr");
  tr.className = "fresh";
  tr.dataset.seq = entry.seq;
  const time = String(entry.time || "").replace("T", " ").replace(/\.\d+Z$|Z$/, "");
  for (const [text, mono] of [[time, false], [entry.type, true], [entry.actor, true], [entry.client_id, true], [entry.target, true], [entry.summary, false]]) {
    const td = document.createElement("td");
    if (mono) td.className = "mono";
    td.textContent = text || "";
    tr.append(td);
  }
  return tr;
}
