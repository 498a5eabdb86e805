// Signing in at the identity provider (authorization code flow with PKCE, by oidc-client-ts)
// and calling the services' APIs under /api/<service>/ with the bearer token.

export async function signIn() {
  const config = await (await fetch("/config.json")).json();
  const here = location.origin + location.pathname;
  const manager = new oidc.UserManager({
    authority: config.issuer,
    client_id: config.client_id,
    redirect_uri: here,
    post_logout_redirect_uri: here,
    response_type: "code",
    scope: "openid profile",
    automaticSilentRenew: false,
    userStore: new oidc.WebStorageStateStore({ store: sessionStorage }),
  });
  const query = new URLSearchParams(location.search);
  if (query.has("code") && query.has("state")) {
    await manager.signinRedirectCallback();
    history.replaceState({}, "", location.pathname);
  }
  const user = await manager.getUser();
  if (!user || user.expired) {
    await manager.signinRedirect();
    return new Promise(() => {}); // the page is leaving for the sign-in page
  }
  return new Session(manager, user);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

class Session {
  constructor(manager, user) {
    this.manager = manager;
    this.user = user;
  }

  get subject() {
    return this.user.profile.sub;
  }

  get name() {
    return this.user.profile.preferred_username || this.user.profile.name || this.subject;
  }

  get clientId() {
    return this.user.profile.frontdesk_client_id || null;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.user.access_token}`, ...extra };
  }

  async api(service, path, { method = "GET", body } = {}) {
    const headers = this.headers({ Accept: "application/json" });
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method === "POST") headers["Idempotency-Key"] = crypto.randomUUID();
    const answer = await fetch(`/api/${service}${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (answer.status === 401) {
      await this.manager.signinRedirect();
      return new Promise(() => {});
    }
    const text = await answer.text();
    const data = text ? JSON.parse(text) : null;
    if (!answer.ok) throw new ApiError(answer.status, (data && data.detail) || answer.statusText);
    return data;
  }

  async download(service, path) {
    const answer = await fetch(`/api/${service}${path}`, { headers: this.headers() });
    if (!answer.ok) throw new ApiError(answer.status, answer.statusText);
    return answer.blob();
  }

  signOut() {
    return this.manager.signoutRedirect();
  }
}

// The operator's live feed: server-sent events read with fetch (so the token goes in a header,
// never in a URL), resumed after a drop from the last id seen with Last-Event-ID. A 410 says
// items after that id were pruned: `onGone` reloads what the screen shows, and the feed starts
// again at the head (no Last-Event-ID, so it cannot be 410 again).
export function follow(session, path, onItem, onState, onGone = async () => {}) {
  let last = null;
  let stopped = false;
  async function run() {
    let pause = 500;
    while (!stopped) {
      try {
        const headers = session.headers({ Accept: "text/event-stream" });
        if (last !== null) headers["Last-Event-ID"] = last;
        const answer = await fetch(`/api/routing${path}`, { headers });
        if (answer.status === 410 && last !== null) {
          last = null;
          await onGone();
          continue;
        }
        if (!answer.ok || !answer.body) throw new Error(`feed: ${answer.status}`);
        onState(true);
        pause = 500;
        const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const message = parse(block);
            if (message.id !== null) last = message.id;
            if (message.event) onItem(message.event, message.data);
          }
        }
      } catch (error) {
        console.warn(error);
      }
      onState(false);
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 10000);
    }
  }
  run();
  return () => { stopped = true; };
}

function parse(block) {
  const message = { id: null, event: null, data: null };
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") message.id = value;
    else if (field === "event") message.event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length) {
    try { message.data = JSON.parse(data.join("\n")); } catch { message.data = data.join("\n"); }
  }
  if (message.data !== null && !message.event) message.event = "message";
  return message;
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}
