// The sync page: shows the progress object and keeps it live over the WebSocket (polling
// `progress` every 500 ms while the socket is down and a run is going); the buttons are
// static/sync_actions.js. The server sends the page's frame and the first paint's data
// (pageData.sync: progress, failed, runs); this script writes every dynamic part from it
// and from what follows — the badge, numbers, durations, times, the log, the failed
// students and the runs — each in the words of static/sync_words.js (the one place they
// are worded), from the page's catalogue.
"use strict";

(function () {
  const sp = window.syncpay;
  const page = document.getElementById("sync-page");
  if (!sp || !sp.syncWords || !page) {
    return;
  }
  const t = sp.t;
  const {
    num, duration, clock, dateTime, tone, etaText, reasonText, logText, logLevel, scopeText,
    changesText, changesCompact,
  } = sp.syncWords;
  const init = sp.pageData.sync || {};
  const base = init.base || page.dataset.base;
  const admin = Boolean(init.admin);
  // A scoped petugas: their own runs (start, cancel, retry; never reset), followed by
  // polling (the server's WebSocket follows every run).
  const officer = Boolean(init.officer);
  const POLL_MS = 500;
  const MAX_LOG = 200;
  const $ = (id) => document.getElementById(id);

  const el = {
    status: $("sync-status"), bar: $("sync-progress"), fill: $("sync-progress-fill"),
    percent: $("sync-percent"), total: $("stat-total"), success: $("stat-success"),
    failed: $("stat-failed"), processed: $("stat-processed"), eta: $("sync-eta"),
    rate: $("sync-rate"), elapsed: $("sync-elapsed"), startedBy: $("sync-started-by"),
    scope: $("sync-scope"), run: $("sync-run"), transport: $("sync-transport"),
    message: $("sync-message"), notice: $("sync-notice"), log: $("sync-log"),
    worker: $("sync-worker"),
    changes: $("sync-changes"), changesText: $("sync-changes-text"),
    changesLink: $("sync-changes-link"),
    failedList: $("failed-list"), runs: $("recent-runs"),
    start: $("btn-start"), cancel: $("btn-cancel"), reset: $("btn-reset"),
    retry: $("btn-retry-failed"), watchLatest: $("btn-watch-latest"),
    kind: $("scope-kind"), unit: $("scope-unit"), kelas: $("scope-kelas"),
    dialog: $("confirm-dialog"), dialogText: $("confirm-text"),
    yes: $("confirm-yes"), no: $("confirm-no"),
  };

  const state = {
    progress: init.progress || {},
    receivedAt: Date.now(),
    watch: null,          // a run id, or null for the latest run
    lastLog: 0,           // the newest log line shown
    busy: false,          // a button's request is in flight
    ws: null,
    wsRetries: 0,
    wsTimer: null,
    pollTimer: null,
    polling: false,
    expected: new Set(),  // runs started from this page
    seenRunning: new Set(),
    notified: new Set(),
    askedPermission: false,
    failedKey: "",
    runsKey: "",
    runsAt: 0,
    originalTitle: document.title,
  };

  // --- elements ---------------------------------------------------------------------------

  function node(tag, attrs, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) {
        element.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children) {
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  // --- showing the progress object --------------------------------------------------------

  function render() {
    const p = state.progress;
    const status = p.status || "idle";
    const look = tone(status, p.processed, p.failed);
    page.dataset.status = status;
    page.dataset.tone = look;
    el.status.dataset.status = status;
    el.status.className = "badge badge-" + look;
    el.status.textContent = t("js.sync.status." + look);
    const percent = Math.min(100, Math.max(0, Number(p.percent) || 0));
    el.bar.setAttribute("aria-valuenow", String(percent));
    el.fill.style.width = percent + "%";
    el.percent.textContent = num(percent, 1) + " %";
    el.total.textContent = num(p.total);
    el.success.textContent = num(p.successCount);
    el.failed.textContent = num(p.failed);
    el.processed.textContent = num(p.processed);
    el.eta.textContent = etaText(p);
    // A run no worker serves (here or elsewhere) says so instead of sitting still.
    const waiting = Boolean(p.isRunning && p.waiting_for_worker);
    page.dataset.waiting = waiting ? "worker" : "";
    if (el.worker) el.worker.hidden = !waiting;
    el.rate.textContent = p.isRunning
      ? t("js.sync.rate", { n: num(p.rate_per_second, 1) }) : t("js.sync.none");
    el.startedBy.textContent = p.started_by || t("js.sync.none");
    el.scope.textContent = scopeText(p.scope_detail, p.scope);
    el.run.textContent = p.run_id ? "#" + p.run_id : t("js.sync.none");
    el.watchLatest.hidden = state.watch === null;
    renderChanges(p);
    tickElapsed();
    updateButtons();
  }

  // What the run changed (kept up to date during the run), with a link to its students.
  function changesUrl(runId) {
    return base + "/runs/" + encodeURIComponent(runId) + "/changes";
  }

  function renderChanges(p) {
    if (!el.changes) return;
    const shown = Boolean(p.run_id) && p.status !== "idle";
    el.changes.hidden = !shown;
    if (!shown) return;
    el.changes.dataset.known = p.changes ? "yes" : "no";
    el.changesText.replaceChildren(...changesText(p.changes).map((line) => node("p", {}, line)));
    el.changesLink.hidden = !p.changes;
    el.changesLink.href = changesUrl(p.run_id);
  }

  function tickElapsed() {
    const p = state.progress;
    let seconds = Number(p.elapsed_seconds) || 0;
    if (p.isRunning) {
      seconds += (Date.now() - state.receivedAt) / 1000;
    }
    el.elapsed.textContent = p.run_id ? duration(seconds) : t("js.sync.none");
  }

  function updateButtons() {
    const status = state.progress.status || "idle";
    const ended = status === "completed" || status === "cancelled";
    const can = admin && !state.busy;
    if (el.start) el.start.disabled = !can || status === "running";
    if (el.cancel) el.cancel.disabled = !can || status !== "running";
    if (el.reset) el.reset.disabled = !can || !ended || officer;
    if (el.retry) el.retry.disabled = !can || !ended || !(state.progress.failed > 0);
  }

  function logItem(line) {
    return node(
      "li", { "data-id": line.id, class: "log-" + logLevel(line) },
      node("time", { datetime: line.at }, clock(line.at)),
      // Text, not HTML: node() adds it as a text node.
      node("span", { class: "log-message" }, logText(line)),
    );
  }

  // Lines arrive newest first; "replace" shows exactly these, "append" adds the ones not
  // shown yet, each in its place by id (a line may commit after one with a higher id).
  function mergeLogs(lines, replace) {
    if (replace) {
      el.log.replaceChildren(...lines.map(logItem));
    } else {
      const shown = new Set(Array.from(el.log.children, (li) => Number(li.dataset.id)));
      for (const line of lines) {
        if (shown.has(line.id)) continue;
        let before = null;
        for (const li of el.log.children) {
          if (Number(li.dataset.id) < line.id) {
            before = li;
            break;
          }
        }
        el.log.insertBefore(logItem(line), before);
        shown.add(line.id);
      }
    }
    while (el.log.children.length > MAX_LOG) {
      el.log.lastElementChild.remove();
    }
    const first = el.log.firstElementChild;
    state.lastLog = first ? Number(first.dataset.id) : 0;
  }

  // A progress object from the socket or a poll.
  function apply(p, mode) {
    const previous = state.progress;
    const newRun = p.run_id !== previous.run_id;
    state.progress = p;
    state.receivedAt = Date.now();
    mergeLogs(p.logs || [], newRun || mode === "replace");
    render();
    if (p.status === "running" && p.run_id) {
      state.seenRunning.add(p.run_id);
    }
    if (newRun && p.status === "running") {
      clearNotice();
    }
    if (p.status !== "running") {
      announceEnd(p);
      if (state.polling) {
        stopPolling("poll");
      }
    }
    refreshFailed(p, newRun);
    refreshRuns(p);
  }

  function clearNotice() {
    el.notice.hidden = true;
    el.notice.textContent = "";
    document.title = state.originalTitle;
  }

  // The end of a run this page saw running (or started): in the page, in the tab title,
  // and as a browser notification when the user allowed them.
  function announceEnd(p) {
    const id = p.run_id;
    if (!id || state.notified.has(id)) return;
    if (!state.seenRunning.has(id) && !state.expected.has(id)) return;
    if (p.status === "completed") {
      state.notified.add(id);
      if (el.message.dataset.kind === "success") el.message.hidden = true;  // "dimulai" is old news
      // Green only when every student synced; the page, the tab and the notification agree.
      const look = tone(p.status, p.processed, p.failed);
      const suffix = { completed: "", partial: "_partial", failed: "_failed" }[look];
      const text = t("js.sync.done" + suffix, {
        success: num(p.successCount), failed: num(p.failed),
      });
      el.notice.className = "alert " + { completed: "alert-success", partial: "alert-warning",
        failed: "alert-error" }[look];
      el.notice.textContent = text;
      el.notice.hidden = false;
      document.title = { completed: "✓ ", partial: "⚠ ", failed: "✗ " }[look] + text;
      if ("Notification" in window && Notification.permission === "granted") {
        try {
          new Notification(t("js.sync.done_title" + suffix),
            { body: text, tag: "syncpay-run-" + id });
        } catch (error) {
          // Some browsers only allow notifications from a service worker.
        }
      }
    } else if (p.status === "cancelled") {
      state.notified.add(id);
      el.notice.className = "alert alert-info";
      el.notice.textContent = t("js.sync.cancelled_notice", {
        processed: num(p.processed), total: num(p.total),
      });
      el.notice.hidden = false;
    }
  }

  function showMessage(text, kind) {
    el.message.textContent = text;
    el.message.dataset.kind = kind;
    el.message.className = "alert " + (kind === "success" ? "alert-success" : "alert-error");
    el.message.hidden = false;
    // Where the user is looking: a phone may have the message below the screen's edge.
    el.message.scrollIntoView({ block: "nearest" });
  }

  // --- failed students and recent runs ----------------------------------------------------

  function renderFailed(students, total) {
    const rows = students.map((s) => node(
      "tr", { "data-idperson": s.idperson },
      node("td", {}, s.idperson),
      node("td", {}, s.nama || ""),
      node("td", { class: "reason" }, reasonText(s.reason)),
      node("td", { class: "num" }, num(s.attempts)),
    ));
    if (total > students.length) {
      rows.push(node("tr", { class: "more" },
        node("td", { colspan: 4 }, t("js.sync.more_failed", { n: num(total - students.length) }))));
    }
    el.failedList.replaceChildren(...rows);
  }

  let failedTimer = null;
  function refreshFailed(p, newRun) {
    const key = p.run_id + ":" + p.failed + ":" + p.status;
    if (key === state.failedKey) return;
    state.failedKey = key;
    if (!p.run_id || !p.failed) {
      clearTimeout(failedTimer);
      renderFailed([], 0);
      return;
    }
    // At most once a second while failures come in; at once when the run changes or ends.
    clearTimeout(failedTimer);
    const delay = newRun || p.status !== "running" ? 0 : 1000;
    failedTimer = setTimeout(async () => {
      const run = p.run_id;
      const answer = await sp.api("GET", base + "/failed?run_id=" + run);
      if (answer.ok && state.progress.run_id === run) {
        renderFailed(answer.body.students || [], answer.body.failed || 0);
      }
    }, delay);
  }

  function renderRuns(runs) {
    el.runs.replaceChildren(...runs.map((r) => node(
      "tr",
      { "data-run-id": r.run_id, "data-status": r.status,
        class: state.watch === r.run_id ? "watching" : null },
      node("td", { class: "num" }, "#" + r.run_id),
      node("td", {}, node("span", { class: "badge badge-" + tone(r.status, r.processed, r.failed) },
        t("js.sync.status." + tone(r.status, r.processed, r.failed)))),
      node("td", {}, scopeText(r.scope_detail, r.scope)),
      node("td", {}, r.started_by),
      node("td", {}, node("time", { datetime: r.started_at }, dateTime(r.started_at))),
      node("td", { class: "num" }, duration(r.duration_seconds)),
      node("td", { class: "num" }, num(r.successCount)),
      node("td", { class: "num" }, num(r.failed)),
      node("td", { class: "num" }, num(r.total)),
      node("td", { class: "changes" }, ...changesCell(r)),
      node("td", {}, node("button",
        { type: "button", class: "btn btn-small", "data-watch": r.run_id }, t("js.sync.watch"))),
    )));
  }

  function changesCell(r) {
    const [counts, arrears] = changesCompact(r.changes);
    if (!r.changes) return [counts];
    return [node("span", {}, counts), node("br"),
      node("a", { href: changesUrl(r.run_id), title: t("js.sync.changes.link") }, arrears)];
  }

  let runsTimer = null;
  function refreshRuns(p) {
    // On a new run or a status change at once; while running, every 5 s at most.
    const key = p.run_id + ":" + p.status;
    const changed = key !== state.runsKey;
    if (!changed && (!p.isRunning || Date.now() - state.runsAt < 5000)) return;
    state.runsKey = key;
    state.runsAt = Date.now();
    clearTimeout(runsTimer);
    runsTimer = setTimeout(async () => {
      const answer = await sp.api("GET", base + "/runs");
      if (answer.ok) renderRuns(answer.body.runs || []);
    }, changed ? 0 : 200);
  }

  // --- transports: the WebSocket, polling as the fallback ---------------------------------

  // How updates arrive: "ws", "poll" (also while polling waits for the next run, the
  // socket being down) or "none".
  function setTransport(kind, label) {
    page.dataset.transport = kind;
    el.transport.textContent = t("js.sync.transport." + (label || kind));
  }

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = state.watch !== null ? "?run_id=" + state.watch : "";
    return scheme + "//" + location.host + base + "/ws" + query;
  }

  function connect() {
    state.wsTimer = null;
    if (!("WebSocket" in window)) {
      fallBack();
      return;
    }
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (error) {
      fallBack();
      retryLater();
      return;
    }
    ws.addEventListener("open", () => {
      state.ws = ws;
      state.wsRetries = 0;
      stopPolling();
      setTransport("ws");
    });
    ws.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.type === "progress") {
        apply(message, message.logs_mode);
      } else if (message.type === "error") {
        showMessage(message.message, "error");
      }
    });
    ws.addEventListener("close", () => {
      if (state.ws === ws || state.ws === null) {
        state.ws = null;
        fallBack();
        retryLater();
      }
    });
  }

  function retryLater() {
    if (state.wsTimer !== null) return;
    // 1 s, 2 s, 4 s … up to 30 s, with jitter, so a restarted server is not stormed.
    const delay = Math.min(30000, 1000 * 2 ** state.wsRetries) * (0.5 + Math.random() / 2);
    state.wsRetries = Math.min(state.wsRetries + 1, 10);
    state.wsTimer = setTimeout(connect, delay);
  }

  function fallBack() {
    if (state.progress.isRunning || state.expected.size > state.notified.size) {
      startPolling();
    } else if (page.dataset.transport !== "poll") {
      setTransport("none");
    }
  }

  function startPolling() {
    if (state.ws) return;
    setTransport("poll");
    if (state.polling) return;
    state.polling = true;
    poll();
  }

  function stopPolling(kind) {
    state.polling = false;
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
    if (!state.ws) setTransport(kind || "none", kind === "poll" ? "poll_idle" : null);
  }

  async function poll() {
    state.pollTimer = null;
    if (!state.polling || state.ws) return;
    let url = base + "/progress?after_log=" + state.lastLog;
    if (state.watch !== null) url += "&run_id=" + state.watch;
    const answer = await sp.api("GET", url);
    if (!state.polling || state.ws) return;
    if (answer.ok) {
      apply(answer.body, "append");
    } else if (answer.status === 401) {
      showMessage(t("js.sync.session_expired"), "error");
      stopPolling();
      return;
    }
    if (state.polling) {
      state.pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  function watch(runId) {
    state.watch = runId;
    state.lastLog = 0;
    state.failedKey = "";
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify({ run_id: runId }));
    } else {
      const url = base + "/progress" + (runId !== null ? "?run_id=" + runId : "");
      sp.api("GET", url).then((answer) => {
        if (answer.ok) apply(answer.body, "replace");
        else showMessage(answer.body.message, "error");
      });
    }
    for (const row of el.runs.querySelectorAll("tr[data-run-id]")) {
      row.classList.toggle("watching", Number(row.dataset.runId) === runId);
    }
    el.watchLatest.hidden = runId === null;
  }

  // --- start ------------------------------------------------------------------------------

  // What static/sync_actions.js (the buttons, for admins) works with.
  sp.syncPage = {
    el, state, base, admin, officer, node, showMessage, updateButtons, clearNotice, watch,
    startPolling, apply,
  };
  if (officer && el.reset) el.reset.hidden = true;

  el.watchLatest.addEventListener("click", () => watch(null));
  el.runs.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-watch]");
    if (button) watch(Number(button.dataset.watch));
  });

  const first = state.progress;
  mergeLogs(first.logs || [], true);
  state.failedKey = first.run_id + ":" + first.failed + ":" + first.status;
  state.runsKey = first.run_id + ":" + first.status;
  state.runsAt = Date.now();
  if (first.status === "running" && first.run_id) state.seenRunning.add(first.run_id);
  render();
  renderFailed(init.failed || [], first.failed || 0);
  renderRuns(init.runs || []);
  setTransport("none", "connecting");
  setInterval(() => {
    if (state.progress.isRunning) tickElapsed();
  }, 1000);
  connect();
})();
