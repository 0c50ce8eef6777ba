// The gateway's JSON API, with the bearer token on every request. Every answer remembers the
// gateway's X-Request-Id (requestIdOf), so "Copy details for support" can name the request.

const REQUEST_ID = Symbol("requestId");

/** The X-Request-Id of the response that delivered `data` (a view, a list), or null. */
export function requestIdOf(data) {
  return (data && typeof data === "object" && data[REQUEST_ID]) || null;
}

export class ApiError extends Error {
  constructor(status, problem, requestId = null) {
    const errors = Array.isArray(problem?.errors) && problem.errors.length
      ? problem.errors
      : [{ field: null, code: `HTTP_${status}`, message: problem?.title || `The request failed (HTTP ${status}).` }];
    super(errors.map((e) => e.message).join(" "));
    this.status = status;
    this.problem = problem;
    this.errors = errors;
    this.requestId = problem?.request_id || requestId;
  }
}

export const OFFLINE_MESSAGE = "BeatPass could not be reached. Check your connection and try again.";

/** Errors of any failure, as the API's [{field, code, message}] list. */
export function errorsOf(err) {
  return err instanceof ApiError ? err.errors : [{ field: null, code: "PAGE_ERROR", message: String(err?.message || err) }];
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  async request(method, path, body, headers = {}) {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { errors: [{ field: null, code: "OFFLINE", message: OFFLINE_MESSAGE }] });
    }
    const requestId = response.headers.get("X-Request-Id");
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data, requestId);
    if (data && typeof data === "object" && requestId) Object.defineProperty(data, REQUEST_ID, { value: requestId });
    return data;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body, headers) {
    return this.request("POST", path, body, headers);
  }

  patch(path, body, headers) {
    return this.request("PATCH", path, body, headers);
  }

  /**
   * A short-lived signed URL of an event stream (`${path}/ticket`), for EventSource, which cannot
   * send the Authorization header; the token itself never goes into a URL. Media links in track
   * views come signed already.
   */
  async streamUrl(path) {
    const { url } = await this.post(`${path}/ticket`);
    return url;
  }
}

export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
