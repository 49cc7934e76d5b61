// Dates and times as every page writes them, the same text as the server's HTML
// (syncpay/web/dates.py): the patterns and month names of the catalogue (js.date.*), in
// the server's time zone (the page's data: timeZone), whatever the browser's own zone.
// "6 Des 2026 14.05" / "6 Dec 2026 14:05"; a date without a time is not moved.
"use strict";

(function () {
  const sp = window.syncpay;
  if (!sp) {
    return;
  }
  const t = sp.t;
  const months = t("js.date.months").split(/\s+/);
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-US", {
      timeZone: sp.pageData.timeZone || "UTC", hourCycle: "h23",
      year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    });
  } catch (error) { // a zone this browser does not know
    parts = new Intl.DateTimeFormat("en-US", {
      timeZone: "UTC", hourCycle: "h23",
      year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    });
  }
  const two = (n) => String(n).padStart(2, "0");
  const monthName = (m) => (months.length === 12 ? months[m - 1] : two(m));

  // The fields of an instant (an ISO text or a Date) in the pages' zone, or null.
  function fields(value) {
    const when = value instanceof Date ? value : new Date(value || NaN);
    if (Number.isNaN(when.getTime())) {
      return null;
    }
    const found = {};
    for (const part of parts.formatToParts(when)) {
      found[part.type] = Number(part.value);
    }
    return {
      day: found.day, month: monthName(found.month), year: found.year,
      hour: two(found.hour % 24), minute: two(found.minute), second: two(found.second),
    };
  }

  sp.dates = {
    // "6 Des 2026 14.05"; `empty` when there is no instant.
    dateTime(value, empty) {
      const f = fields(value);
      return f ? t("js.date.datetime", f) : (empty || "");
    },
    // "14.05.09": the time of day (the activity log).
    clock(value) {
      const f = fields(value);
      return f ? t("js.date.clock", f) : "";
    },
    // "6 Des 2026" from "2026-12-06" (a calendar date: no zone).
    date(value, empty) {
      const found = /^(\d{4})-(\d\d)-(\d\d)/.exec(String(value || ""));
      if (!found) {
        return empty || "";
      }
      return t("js.date.date", {
        day: Number(found[3]), month: monthName(Number(found[2])), year: Number(found[1]),
      });
    },
  };
})();
