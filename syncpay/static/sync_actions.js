// The sync page's buttons (start, cancel, reset, retry the failed) and the scope picker,
// for admins: each asks the JSON routes and shows their answer; the page (static/sync.js,
// sp.syncPage) shows what follows.
"use strict";

(function () {
  const sp = window.syncpay;
  if (!sp || !sp.syncPage || !sp.syncPage.admin) {
    return;
  }
  const t = sp.t;
  const {
    el, state, base, officer, node, showMessage, updateButtons, clearNotice, watch,
    startPolling, apply,
  } = sp.syncPage;

  // --- the buttons ------------------------------------------------------------------------

  // An in-page confirmation (no window.confirm): resolves to true or false.
  function confirmFirst(text) {
    return new Promise((resolve) => {
      el.dialogText.textContent = text;
      const done = (answer) => {
        el.yes.removeEventListener("click", yes);
        el.no.removeEventListener("click", no);
        el.dialog.removeEventListener("cancel", no);
        if (el.dialog.open) el.dialog.close();
        resolve(answer);
      };
      const yes = () => done(true);
      const no = (event) => {
        if (event) event.preventDefault();
        done(false);
      };
      el.yes.addEventListener("click", yes);
      el.no.addEventListener("click", no);
      el.dialog.addEventListener("cancel", no);
      el.dialog.showModal();
      el.no.focus();
    });
  }

  async function send(path, body) {
    state.busy = true;
    updateButtons();
    try {
      const answer = await sp.api("POST", base + path, body);
      showMessage(answer.body.message || "", answer.ok ? "success" : "error");
      return answer;
    } finally {
      state.busy = false;
      updateButtons();
    }
  }

  function afterStart(answer) {
    if (!answer.ok || !answer.body.run_id) return;
    state.expected.add(answer.body.run_id);
    clearNotice();
    if (state.watch !== null) {
      watch(null);
    }
    if (!state.ws) startPolling();
  }

  function scopeBody() {
    const kind = el.kind ? el.kind.value : "all";
    if (kind === "unit") {
      return el.unit.value ? { unit: el.unit.value } : null;
    }
    if (kind === "kelas") {
      const option = el.kelas.selectedOptions[0];
      if (!el.kelas.value || !option) return null;
      const body = { kelas: el.kelas.value };
      if (option.dataset.unit) body.unit = option.dataset.unit;
      return body;
    }
    return {};
  }

  async function onStart() {
    // Ask for notifications on the first start click, never on page load.
    if (!state.askedPermission && "Notification" in window
        && Notification.permission === "default") {
      state.askedPermission = true;
      try {
        Notification.requestPermission();
      } catch (error) {
        // Older browsers: no promise; nothing to do.
      }
    }
    const body = scopeBody();
    if (body === null) {
      showMessage(t("js.sync.pick_scope"), "error");
      return;
    }
    afterStart(await send("/start", body));
  }

  async function onCancel() {
    if (!(await confirmFirst(t("js.sync.confirm.cancel")))) return;
    const body = state.progress.run_id ? { run_id: state.progress.run_id } : {};
    await send("/cancel", body);
  }

  async function onReset() {
    if (!(await confirmFirst(t("js.sync.confirm.reset")))) return;
    const answer = await send("/reset", {});
    if (answer.ok) {
      clearNotice();
      if (!state.ws) {
        const fresh = await sp.api("GET", base + "/progress");
        if (fresh.ok) apply(fresh.body, "replace");
      }
    }
  }

  async function onRetry() {
    const body = state.progress.run_id ? { run_id: state.progress.run_id } : {};
    afterStart(await send("/retry-failed", body));
  }

  // --- the scope picker -------------------------------------------------------------------

  function showScope() {
    const kind = el.kind.value;
    el.unit.hidden = kind !== "unit";
    el.unit.disabled = kind !== "unit";
    el.kelas.hidden = kind !== "kelas";
    el.kelas.disabled = kind !== "kelas";
  }

  async function loadScopes() {
    const answer = await sp.api("GET", base + "/scopes");
    if (!answer.ok) return;
    const pick = () => node("option", { value: "" }, t("js.sync.pick"));
    el.unit.replaceChildren(pick(), ...(answer.body.units || []).map(
      (unit) => node("option", { value: unit }, unit)));
    const groups = new Map();
    for (const entry of answer.body.kelas || []) {
      const unit = entry.unit || "";
      if (!groups.has(unit)) groups.set(unit, node("optgroup", { label: unit || "—" }));
      groups.get(unit).append(
        node("option", { value: entry.kelas, "data-unit": unit || null }, entry.kelas));
    }
    el.kelas.replaceChildren(pick(), ...groups.values());
  }

  // --- start ------------------------------------------------------------------------------

  if (el.start) el.start.addEventListener("click", onStart);
  if (el.cancel) el.cancel.addEventListener("click", onCancel);
  if (el.reset) el.reset.addEventListener("click", onReset);
  if (el.retry) el.retry.addEventListener("click", onRetry);
  if (el.kind) {
    // A scoped petugas's "all" is their own students (the units and classes offered are
    // theirs too).
    if (officer && el.kind.options[0]) el.kind.options[0].textContent = t("js.sync.scope.mine");
    el.kind.addEventListener("change", showScope);
    showScope();
    loadScopes();
  }
})();
