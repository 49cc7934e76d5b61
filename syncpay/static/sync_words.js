// The sync page's words: every number, duration, time, status, scope, reason and log line
// the page shows is written by these functions, from the page's catalogue
// (pageData.messages) in the page's language — the server sends only the data
// (syncpay/web/routes/sync_page.py) and sync.js puts the words in their places.
"use strict";

(function () {
  const sp = window.syncpay;
  if (!sp) {
    return;
  }
  const t = sp.t;
  const locale = sp.pageData.lang === "en" ? "en-US" : "id-ID";
  // The sync layer's Indonesian words in a failure's reason, and this page's.
  const reasonWords = (sp.pageData.sync || {}).reasonWords || [];
  const own = (object, name) => Object.prototype.hasOwnProperty.call(object, name);

  // "12.345" / "12,345"; `digits` decimals ("12,5" / "12.5").
  function num(value, digits) {
    const n = Number(value) || 0;
    return n.toLocaleString(locale, {
      minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0,
    });
  }

  // "2 menit 5 detik" / "2 min 5 s"; hours and minutes for long spans.
  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) {
      return t("js.sync.none");
    }
    const total = Math.max(0, Math.round(seconds));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const secs = total % 60;
    const parts = [];
    if (hours) parts.push(t("js.sync.duration.h", { n: hours }));
    if (minutes) parts.push(t("js.sync.duration.m", { n: minutes }));
    if ((secs && !hours) || !parts.length) parts.push(t("js.sync.duration.s", { n: secs }));
    return parts.join(" ");
  }

  // Times as the server writes them (static/dates.js, syncpay/web/dates.py).
  function clock(iso) {
    return sp.dates.clock(iso);
  }

  function dateTime(iso) {
    return sp.dates.dateTime(iso, t("js.sync.none"));
  }

  // How a run reads: an ended run where students failed is not a success — "partial" (a
  // warning) when some failed, "failed" (an error) when all did; otherwise its status.
  // The status itself (SPEC) stays "completed".
  function tone(status, processed, failed) {
    if (status !== "completed" || !(Number(failed) > 0)) return status;
    return Number(failed) >= Number(processed) ? "failed" : "partial";
  }

  // The time left: nothing once the run ended; "waiting for a worker" while nobody works
  // it; the wait for the next retry when the run cannot end sooner; else the estimate
  // from the recent rate.
  function etaText(p) {
    if (!p.isRunning) return t("js.sync.none");
    if (p.waiting_for_worker) return t("js.sync.waiting_for_worker");
    // The run cannot end before its next retry: that wait, not a smaller estimate.
    const wait = p.next_retry_seconds;
    if (wait !== null && wait !== undefined
        && (p.eta_seconds === null || p.eta_seconds === undefined || p.eta_seconds < wait)) {
      return t("js.sync.waiting_retry", { time: duration(wait) });
    }
    return duration(p.eta_seconds);
  }

  // A failure's reason in the page's language: the sync layer's own (Indonesian) words
  // in it replaced, an API's error left as it came.
  function reasonText(reason) {
    let text = typeof reason === "string" ? reason : "";
    for (const [stored, shown] of reasonWords) {
      text = text.split(stored).join(shown);
    }
    return text;
  }

  // An activity-log line in the page's language: its template "js.log.<key>" filled with
  // its values in one pass (a value is never read as a placeholder), a run's scope worded
  // from its detail; the stored message when the line has no key, the catalogue does not
  // know it, or a value is missing.
  function logText(line) {
    const messages = sp.pageData.messages || {};
    const key = line.key ? "js.log." + line.key : null;
    const values = line.values;
    if (!key || !own(messages, key) || !values || typeof values !== "object") {
      return line.message;
    }
    const filled = Object.assign({}, values);
    if (typeof filled.reason === "string") {
      filled.reason = reasonText(filled.reason);
    }
    if (values.scope_detail && typeof values.scope_detail === "object") {
      filled.scope = scopeText(values.scope_detail, values.scope);
    }
    let complete = true;
    const text = messages[key].replace(/\{(\w+)\}/g, (whole, name) => {
      if (!own(filled, name) || filled[name] === undefined) {
        complete = false;
        return whole;
      }
      const value = filled[name];
      // Counts as the page writes its other numbers ("1.000" / "1,000").
      return typeof value === "number" && Number.isInteger(value) ? num(value) : String(value);
    });
    return complete ? text : line.message;
  }

  // A run's completion line is stored as "success"; it reads as its run does.
  function logLevel(line) {
    const v = line.values;
    if (line.key === "finished" && v && typeof v === "object" && Number(v.failed) > 0) {
      return Number(v.success) > 0 ? "warning" : "error";
    }
    return line.level;
  }

  // A run's scope in the page's language; the stored Indonesian label for a kind this
  // page does not know.
  function scopeText(d, label) {
    if (!d) return label || t("js.sync.none");
    let kind = d.kind;
    if (kind === "kelas" && d.unit) kind = "kelas_unit";
    if (!["all", "unit", "kelas", "kelas_unit", "one", "list", "officer"].includes(kind)) {
      return label || t("js.sync.none");
    }
    return t("js.sync.scope_label." + kind, {
      unit: d.unit || "", kelas: d.kelas || "", idperson: d.idperson || "",
      n: num(d.students || 0), officer: d.officer || "",
    });
  }

  // "Rp 1.250.000" (",50" with cents): the currency's own notation in every language, as
  // the server writes it (syncpay/web/format.py rupiah).
  function rupiah(value) {
    if (value === null || value === undefined) return "—";
    const n = Number(value) || 0;
    const whole = Math.trunc(Math.abs(n));
    const cents = Math.round((Math.abs(n) - whole) * 100);
    const grouped = String(whole).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
    return (n < 0 ? "-" : "") + "Rp " + grouped + (cents ? "," + String(cents).padStart(2, "0") : "");
  }

  // What a run changed (progress.changes), a line each: who became Lunas / Belum Lunas,
  // was synced for the first time, whose arrears rose or fell, and the total arrears
  // before → after; a run from before the feature (null) says it was not recorded.
  function changesText(c) {
    if (!c) return [t("js.sync.changes.unknown")];
    const counts = {};
    for (const name of ["became_lunas", "became_belum_lunas", "first_synced", "arrears_up",
      "arrears_down"]) {
      counts[name] = num(c[name]);
    }
    return [
      t("js.sync.changes.summary", counts),
      t("js.sync.changes.total", {
        before: rupiah(c.tunggakan_before), after: rupiah(c.tunggakan_after),
      }),
    ];
  }

  // The same in the recent runs' table: the state changes, and the arrears before → after.
  function changesCompact(c) {
    if (!c) return [t("js.sync.none")];
    return [
      t("js.sync.changes.compact", {
        became_lunas: num(c.became_lunas), became_belum_lunas: num(c.became_belum_lunas),
      }),
      rupiah(c.tunggakan_before) + " → " + rupiah(c.tunggakan_after),
    ];
  }

  sp.syncWords = {
    num, duration, clock, dateTime, tone, etaText, reasonText, logText, logLevel, scopeText,
    rupiah, changesText, changesCompact,
  };
})();
