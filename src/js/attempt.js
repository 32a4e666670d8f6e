// One fetch attempt with its own timeout, classified for the core.
import { startTimer } from "./timers.js";
import { timeoutError } from "./errors.js";
import { onAbort } from "./signals.js";
import { cancelBody } from "./body.js";
import { isRequestLike } from "./request.js";

// Outcome kinds; the first three are reported to the core, ABORTED and INVALID end the call.
export const RESPONSE = 0, NETWORK = 1, TIMEOUT = 2, ABORTED = 3, INVALID = 4;

// Errors that are bugs in the code that threw them, never the network: a custom fetch that
// throws one is reported at once, not retried nor counted against the origin.
const PROGRAMMING_ERRORS = [ReferenceError, SyntaxError, RangeError, EvalError, URIError];

// Did fetch reject because the request cannot be made at all (a bad URL, method or header, a
// body on a GET, a scheme fetch cannot load such as ftp: or about:), rather than the network
// failing? Asked only after a rejection. Built without the body, so a large body is not copied.
function refusesRequest(url, init) {
  const { method, headers, body, mode, credentials, cache, redirect, referrerPolicy } = init || {};
  const verb = method !== undefined ? String(method).toUpperCase() : "GET";
  if (body != null && (verb === "GET" || verb === "HEAD")) return true;
  try {
    const probe = new Request(url, { method, headers, mode, credentials, cache, redirect, referrerPolicy });
    return !/^https?:/i.test(probe.url);
  } catch {
    return true;
  }
}

// A rejection that is the same on every attempt: following redirects failed (redirect:
// "error" met one, or a redirect loop passed fetch's limit of 20). Node's fetch says so in
// the error's cause; workerd in its message. Browsers say only "Failed to fetch", so there a
// redirect failure cannot be told from the network's and is retried.
function isRedirectFailure(error) {
  const cause = error.cause;
  const text = `${error.message} ${cause && typeof cause === "object" ? cause.message : cause}`;
  return /redirect/i.test(text);
}

// `foreign`: a Request-like of another implementation handed to the platform's own fetch,
// which cannot read it (it takes it for a URL string): the same failure every time.
function classifyRejection(error, url, init, foreign) {
  if (PROGRAMMING_ERRORS.some((type) => error instanceof type)) return INVALID;
  if (error instanceof TypeError && (foreign || isRedirectFailure(error) || refusesRequest(url, init))) return INVALID;
  return NETWORK;
}

export function isResponse(value) {
  if (value instanceof Response) return true;
  if (value === null || typeof value !== "object") return false;
  const headers = value.headers;
  return typeof value.status === "number" && headers !== null && typeof headers === "object" && typeof headers.get === "function";
}

export function notAResponse(value) {
  const what = value === null ? "null" : typeof value === "object" ? "an object that is not a Response" : String(value);
  return new TypeError(`edge-retry: fetch resolved with ${what}, not a Response`);
}

// The caller's abort stays wired to a returned response's body (as fetch wires it) for as long
// as the response or its body is alive, without the long-lived signal keeping either alive:
// the subscription holds the attempt's controller weakly, the response holds it strongly, and
// the subscription goes when the controller is collected or the response is released.
const controllers = new WeakMap(); // response or its body -> AbortController
const unwires = new WeakMap(); // response -> unsubscribe
const collected = typeof FinalizationRegistry === "function" ? new FinalizationRegistry((unsubscribe) => unsubscribe()) : null;

// Made apart from the subscriber: a closure beside it that named the controller would put the
// controller in the scope they share, and the subscriber would hold it strongly after all.
function weakly(target) {
  return typeof WeakRef === "function" ? new WeakRef(target) : { deref: () => target };
}

function wireBody(response, controller, signal) {
  const ref = weakly(controller);
  const unsubscribe = onAbort(signal, (reason) => {
    const live = ref.deref();
    if (live) live.abort(reason);
  });
  controllers.set(response, controller);
  try {
    if (response.body && typeof response.body === "object") controllers.set(response.body, controller);
  } catch {
    // A body getter that throws: the response alone keeps the wiring.
  }
  unwires.set(response, unsubscribe);
  if (collected) collected.register(controller, unsubscribe);
}

// A response the driver discards: cancel its body and let go of its abort wiring.
export function discard(response) {
  cancelBody(response);
  const unsubscribe = unwires.get(response);
  if (unsubscribe) {
    unwires.delete(response);
    unsubscribe();
  }
}

// One attempt. Resolves (never rejects) with [kind, value]. `init` is the call's copied init;
// `body` replaces init.body when defined (a replay buffer or a one-shot stream). The attempt
// settles when fetch does, when its timeout fires or when the caller aborts, whichever comes
// first, even with a custom fetch that ignores its signal (a response that comes after is
// discarded). With a timeout, fetch gets an AbortController's signal that the caller's abort
// also aborts. (A call's first attempt with no timeout or body is awaited by driver.js itself,
// through `untilAborted` when it has a signal, with `isResponse`, `notAResponse` and
// `rejected`; so is any attempt with no timeout, signal or body.)
export function attempt(fetchFn, input, init, body, timeoutMs, signal, url) {
  const controller = timeoutMs >= 0 ? new AbortController() : null;
  let attemptInit = init;
  if (body !== undefined || controller) {
    attemptInit = init ? { ...init } : {};
    if (body !== undefined) {
      attemptInit.body = body;
      if (!(body instanceof Uint8Array)) attemptInit.duplex = "half";
    }
    if (controller) attemptInit.signal = controller.signal;
  }

  return new Promise((resolve) => {
    let done = false;
    let cancelTimer = null;
    let unsubscribe = null;
    const finish = (result) => {
      if (done) return;
      done = true;
      if (cancelTimer) cancelTimer();
      if (unsubscribe) unsubscribe();
      resolve(result);
    };
    if (controller) {
      cancelTimer = startTimer(timeoutMs, () => {
        const error = timeoutError();
        controller.abort(error);
        finish([TIMEOUT, error]);
      });
    }
    if (signal) {
      unsubscribe = onAbort(signal, (reason) => {
        if (controller) controller.abort(reason);
        finish([ABORTED, reason]);
      });
    }
    const settled = (response) => {
      if (!isResponse(response)) return finish([INVALID, notAResponse(response)]);
      if (done) return discard(response); // too late: the attempt timed out or was aborted
      try {
        if (controller && signal) wireBody(response, controller, signal);
      } catch (error) {
        discard(response);
        return finish([INVALID, error]);
      }
      finish([RESPONSE, response]);
    };
    const failed = (error) => {
      if (done) return;
      if (signal && signal.aborted) return finish([ABORTED, signal.reason]);
      finish(rejected(error, fetchFn, input, url, attemptInit));
    };
    send(fetchFn, input, attemptInit).then(settled, failed);
  });
}

// What fetch's `sent` promise gives, or the caller's abort reason as soon as `signal` aborts,
// whichever comes first (a custom fetch may ignore its signal): the first attempt of a call
// with no timeout, where fetch has the caller's signal itself. A response that comes after
// the abort is discarded.
export function untilAborted(sent, signal) {
  return new Promise((resolve, reject) => {
    let done = false;
    const unsubscribe = onAbort(signal, (reason) => {
      done = true;
      reject(reason);
    });
    Promise.resolve(sent).then(
      (value) => {
        if (done) {
          if (isResponse(value)) discard(value);
          return;
        }
        done = true;
        unsubscribe();
        resolve(value);
      },
      (error) => {
        if (done) return;
        done = true;
        unsubscribe();
        reject(error);
      },
    );
  });
}

// Calls fetch; a synchronous throw becomes a rejection. Workers and browsers throw "Illegal
// invocation" unless fetch is called on the global.
function send(fetchFn, input, init) {
  try {
    return Promise.resolve(fetchFn.call(globalThis, input, init));
  } catch (error) {
    return Promise.reject(error);
  }
}

// [kind, error] for a fetch that rejected (or threw).
export function rejected(error, fetchFn, input, url, init) {
  const foreign = fetchFn === globalThis.fetch && !(input instanceof Request) && isRequestLike(input);
  return [classifyRejection(error, url, init, foreign), error];
}

// A 2xx, told by its status: the getter `ok` would be one more read, and a look-alike
// response may not have it.
export const isSuccessStatus = (status) => status >= 200 && status < 300;
// A Response's status, read once per outcome (0 for any other outcome): a Response-like from
// a fetch of the user's may answer each read differently, and the driver must act on the
// status the core was told.
export const statusOf = (kind, value) => (kind === RESPONSE ? value.status : 0);

// Reports an attempt's outcome to the core (`instance.outcome`). Only an unsuccessful outcome
// can need the wait headers or a random number, so a success reads neither and passes only
// numbers (`instance.response`, which also closes a plain call's slot when the success
// settles it). `status`: from statusOf. `now`: when the outcome came.
export function reportOutcome(instance, id, kind, value, status, random, now) {
  if (isSuccessStatus(status)) return instance.response(id, status, 0, now);
  const response = kind === RESPONSE ? value : undefined;
  const header = (name) => (response ? response.headers.get(name) ?? undefined : undefined);
  return instance.outcome(
    id, kind, status,
    header("retry-after"), header("ratelimit-reset"), header("ratelimit"), header("x-ratelimit-reset"),
    now,
    random ? Number(random()) : NaN,
  );
}
