// What a call asks for, read from `input` and `init` the way fetch reads them.
//
// fetch reads each RequestInit member by property access, so inherited members count: the
// Workers proxy idiom `fetch(url, request)` passes a Request (whose members are getters on
// its prototype) as init, and inits built with Object.create or classes work the same way.
// A spread would see none of them and send a bare GET.

// The RequestInit members of the Fetch standard, plus those of runtimes and fetch libraries
// (Workers' cf, undici's dispatcher, node-fetch's agent and friends).
const INIT_MEMBERS = [
  "method", "headers", "body", "signal", "redirect", "referrer", "referrerPolicy", "mode",
  "credentials", "cache", "integrity", "keepalive", "duplex", "priority", "window", "cf",
  "dispatcher", "agent", "compress", "follow", "size", "highWaterMark", "insecureHTTPParser",
];

// A plain-object copy of `init` for the attempts: its own enumerable members (extras that a
// custom fetch may read) and every RequestInit member, inherited ones included, less `retry`.
// Getters are read once here; one that throws rejects the call, as it would reject fetch.
export function readInit(init) {
  if (init === undefined || init === null) return undefined;
  if (typeof init !== "object" && typeof init !== "function") return undefined;
  let copy;
  const proto = Object.getPrototypeOf(init);
  if (proto === Object.prototype || proto === null) {
    // An object literal, the common init: nothing is inherited, so its own members are all.
    // (A rest copy rather than a `delete`, which would leave a slow dictionary-mode object.)
    const { retry, ...own } = init;
    copy = own;
  } else {
    copy = { ...init };
    for (const name of INIT_MEMBERS) {
      if (Object.prototype.hasOwnProperty.call(copy, name)) continue;
      const value = init[name];
      if (value !== undefined) copy[name] = value;
    }
    delete copy.retry;
  }
  // Headers given as a one-shot iterator (a generator of pairs) are kept as pairs, so every
  // attempt, and the search for Idempotency-Key, sees them all.
  const headers = copy.headers;
  if (headers !== null && typeof headers === "object" && typeof headers.next === "function" && typeof headers[Symbol.iterator] === "function") {
    copy.headers = Array.from(headers);
  }
  return copy;
}

// A Request of this realm's class, or of another implementation (undici's npm package,
// node-fetch): anything with a string `url` and `method` and a `headers` member.
export function isRequestLike(input) {
  if (typeof input === "string") return false; // the common input, asked first
  if (input instanceof Request) return true;
  if (input === null || typeof input !== "object" || input instanceof URL) return false;
  return typeof input.url === "string" && typeof input.method === "string" && "headers" in input;
}

function lowerName(name) {
  return String(name).toLowerCase();
}

// Whether request headers in any form fetch accepts (Headers or a look-alike, a Map or other
// iterable of pairs, a record) carry `name` (lower case).
export function hasHeader(headers, name) {
  if (headers === null || typeof headers !== "object") return false;
  if (!(headers instanceof Map) && typeof headers.has === "function" && typeof headers.get === "function") {
    return Boolean(headers.has(name));
  }
  if (typeof headers[Symbol.iterator] === "function") {
    for (const pair of headers) {
      if (pair !== null && typeof pair === "object" && lowerName(pair[0]) === name) return true;
    }
    return false;
  }
  return Object.keys(headers).some((key) => lowerName(key) === name);
}

// The parts of a call that the driver needs, from a URL, string, or Request-like input and a
// copied init (see readInit).
export function describeRequest(input, init) {
  const request = isRequestLike(input) ? input : undefined;
  const url = request ? String(request.url) : String(input instanceof URL ? input.href : input);
  const method = String((init && init.method) || (request ? request.method : "GET"));
  const signal = (init && init.signal) || (request ? request.signal : undefined) || undefined;
  const headers = init && init.headers !== undefined ? init.headers : request ? request.headers : undefined;
  return { request, url, method, signal, headers };
}
