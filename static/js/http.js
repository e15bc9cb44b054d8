// The page's requests to its own server: one CSRF-protected POST, one JSON GET.

// The page's own, never the cookie's: a page opened before a login in another tab (perhaps
// another person's) is refused, to be reloaded, rather than acting for that login.
export function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

// POST a form's worth of fields; the JSON answer, or an Error with the server's sentence.
// `timeout`: the milliseconds after which no whole answer is an error (a TimeoutError).
export async function post(url, data = {}, { timeout = null } = {}) {
  const signal = timeout ? AbortSignal.timeout(timeout) : undefined;
  const response = await fetch(url, {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: new URLSearchParams(data),
    credentials: "same-origin",
    signal,
  });
  const body = await response.json().catch(() => {
    if (signal?.aborted) throw signal.reason; // cut off in time, not an empty answer
    return {};
  });
  if (!response.ok) throw new Refusal(body.error);
  return body;
}

// A request the server answered with an error: `code` is its stable code, if it gave one
// ("not_logged_in": the login session has ended), and the message its sentence.
export class Refusal extends Error {
  constructor(error) {
    super(error?.message || gettext("That did not work. Please try again."));
    this.code = error?.code;
  }
}

export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) throw new Error(gettext("That did not work. Please try again."));
  return response.json();
}

// The server's settings for this page (a json_script element), URLs with "{id}" filled in.
export function pageConfig(id = "chat-config") {
  const config = JSON.parse(document.getElementById(id).textContent);
  config.url = (name, conversationId) => config.urls[name].replace("{id}", encodeURIComponent(conversationId));
  return config;
}
