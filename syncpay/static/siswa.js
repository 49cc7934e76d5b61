// The student pages: the class list following the unit, "Sinkron sekarang". (Times come
// written by the server in the pages' one format: see syncpay/web/dates.py.)
"use strict";

(function () {
  const sp = window.syncpay;
  const t = sp.t;
  const POLL_MS = 300;
  const GIVE_UP_MS = 120000;

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // The class select offers the classes of the chosen unit only.
  function classesFollowUnit() {
    const unit = document.getElementById("filter-unit");
    const kelas = document.getElementById("filter-kelas");
    if (!unit || !kelas) {
      return;
    }
    function apply() {
      for (const option of kelas.options) {
        let units = [];
        try {
          units = JSON.parse(option.dataset.units || "[]");
        } catch (error) {
          units = [];
        }
        const fits = !option.value || !unit.value || units.length === 0 || units.includes(unit.value);
        option.hidden = !fits;
        option.disabled = !fits;
      }
      const chosen = kelas.options[kelas.selectedIndex];
      if (chosen && chosen.disabled) {
        kelas.value = "";
      }
    }
    unit.addEventListener("change", apply);
    apply();
  }

  // "Sinkron sekarang": start a single-student run, follow it, then show the new data.
  function syncNow() {
    const section = document.getElementById("siswa-detail");
    const button = document.getElementById("btn-sync-now");
    const message = document.getElementById("sync-now-message");
    if (!section || !button || !message) {
      return;
    }
    const studentUrl = (sp.pageData.siswa && sp.pageData.siswa.url) || window.location.pathname;

    function show(text, kind) {
      message.textContent = text;
      message.className = "alert alert-" + kind;
      message.hidden = false;
    }

    // The run's state: the sync page's progress route, else this page's JSON.
    async function state(runId) {
      const answer = await sp.api("GET", "/admin/sync-pembayaran/progress?run_id=" + runId);
      if (answer.ok && answer.body && answer.body.status) {
        return { ok: true, progress: answer.body };
      }
      if (answer.status === 404 || answer.status === 405) {
        const own = await sp.api("GET", studentUrl + "?run_id=" + runId);
        if (own.ok && own.body.data && own.body.data.run) {
          return { ok: true, progress: own.body.data.run };
        }
        return { ok: false, answer: own };
      }
      return { ok: false, answer };
    }

    // Fetch this page again and put its fresh #siswa-data in place.
    async function refresh() {
      let response;
      try {
        response = await fetch(studentUrl, {
          credentials: "same-origin",
          headers: { Accept: "text/html" },
        });
      } catch (error) {
        return false;
      }
      if (!response.ok) {
        return false;
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("siswa-data");
      const current = document.getElementById("siswa-data");
      if (!fresh || !current) {
        return false;
      }
      const copy = document.importNode(fresh, true);
      current.replaceWith(copy);
      return true;
    }

    async function run() {
      button.disabled = true;
      section.setAttribute("aria-busy", "true");
      show(t("js.siswa.sync.running"), "info");
      try {
        const started = await sp.api("POST", section.dataset.syncUrl);
        if (!started.ok || !started.body.status) {
          show(started.body.message || t("js.siswa.sync.failed_unknown"), "error");
          return;
        }
        const runId = started.body.run_id;
        const deadline = Date.now() + GIVE_UP_MS;
        let progress = null;
        while (Date.now() < deadline) {
          await sleep(POLL_MS);
          const found = await state(runId);
          if (found.ok) {
            progress = found.progress;
            if (progress.status !== "running") {
              break;
            }
          } else if ([401, 403, 419].includes(found.answer.status)) {
            show(found.answer.body.message, "error");
            return;
          }
        }
        if (!progress || progress.status === "running") {
          show(t("js.siswa.sync.timeout", { seconds: GIVE_UP_MS / 1000 }), "error");
          return;
        }
        await refresh();
        if (progress.status === "cancelled") {
          show(t("js.siswa.sync.cancelled"), "error");
        } else if (progress.failed > 0) {
          const error = document.getElementById("sync-error");
          const reason = error && !error.dataset.empty ? error.textContent.trim() : "";
          show(
            reason ? t("js.siswa.sync.failed", { reason }) : t("js.siswa.sync.failed_unknown"),
            "error",
          );
        } else {
          show(t("js.siswa.sync.done"), "success");
        }
      } finally {
        button.disabled = false;
        section.removeAttribute("aria-busy");
      }
    }

    button.addEventListener("click", () => {
      if (!button.disabled) {
        run();
      }
    });
  }

  classesFollowUnit();
  syncNow();
})();
