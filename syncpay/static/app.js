// Shared by every page: the CSRF token, the UI texts, JSON requests, confirmations.
"use strict";

(function () {
  const dataElement = document.getElementById("page-data");
  const pageData = dataElement ? JSON.parse(dataElement.textContent) : {};
  const messages = pageData.messages || {};

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // The text for `key` in the page's language, with {name} placeholders filled in.
  function t(key, values) {
    let text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    if (values) {
      for (const [name, value] of Object.entries(values)) {
        text = text.split("{" + name + "}").join(String(value));
      }
    }
    return text;
  }

  // fetch() a JSON route; resolves to {ok, status, body}, never throws for HTTP errors.
  async function api(method, url, body) {
    const headers = { "Accept": "application/json", "X-CSRF-TOKEN": csrfToken() };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      return { ok: false, status: 0, body: { status: false, message: t("js.network_error") } };
    }
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (error) {
      parsed = { status: false, message: response.statusText || t("js.network_error") };
    }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  // <form data-confirm="…"> asks before it submits.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    }
  });

  window.syncpay = { pageData, csrfToken, t, api };
})();
