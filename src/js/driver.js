// The driver: runs each retryFetch call against fetch, timers and the caller's AbortSignal.
// Every decision is the Rust core's (through the wasm Instance's handle API); this file only
// performs the actions it is given and reports what happened. Works in workerd, browsers,
// Node >= 18 and Deno.
import { Instance } from "./edge_retry.js";

import { CircuitOpenError, timeoutError } from "./errors.js";
import { sleep, startTimer } from "./timers.js";
import { attempt, untilAborted, isResponse, isSuccessStatus, notAResponse, rejected, discard, reportOutcome, statusOf, RESPONSE, NETWORK, TIMEOUT, ABORTED, INVALID } from "./attempt.js";
import { bufferBody, streamBody } from "./body.js";
import { abortPromise } from "./signals.js";
import { readInit, describeRequest, hasHeader } from "./request.js";
import { encodeOptions } from "./encode.js";
import { keptOptions } from "./kept-options.js";
import { deferLeasedRecords } from "./leased-records.js";
import { runHedged } from "./hedge.js";
import * as H from "./codes.js";
import { SEND, RETRY, SETTLE_LAST, SETTLE_DEADLINE, SETTLE_CIRCUIT_OPEN, SEND_HEDGED, SEND_TIMED, REFUSED, DEFAULTS_PLACE, UNKEPT, isSend } from "./codes.js";
import { SEND_LEASED, SEND_LEASED_TIMED, LEASED, MISUSE, START_IDEMPOTENCY_KEY, START_REPLAYABLE, START_ADMITTED } from "./codes.js";

export { CircuitOpenError };

// What the driver knows of an attempt before classifying it (`runFrom`): fetch fulfilled or
// rejected with `value`; then an ANSWERED step classifies and reports it.
const FULFILLED = -1, REJECTED = -2, ANSWERED = -1;
// start() takes the method as its index here (the core's METHODS), any other by setMethod.
// (A GET, most calls, is told apart first: a lookup in this table costs more than the test.)
const METHOD_CODES = Object.assign(Object.create(null), { GET: 0, HEAD: 1, OPTIONS: 2, TRACE: 3, PUT: 4, DELETE: 5, POST: 6, PATCH: 7 });
const OTHER_METHOD = 255;
const REASONS = ["status", "network", "timeout"];
const BREAKER_STATES = ["closed", "open", "half-open"];

function statsOf(instance) {
  const n = (which) => instance.get(H.GET_STAT, which);
  return {
    calls: n(0), attempts: n(1), retries: n(2), successes: n(3), failures: n(4),
    breakerRejections: n(5), budgetDenials: n(6), retryAfterWaits: n(7),
    latencyMs: { p50: n(8), p90: n(9), p99: n(10) }, storms: n(11), hedges: n(12),
  };
}

function breakerOf(instance, key) {
  const out = { state: BREAKER_STATES[instance.breaker(key, Date.now())] };
  out.failures = instance.get(H.GET_BREAKER, 0);
  out.successes = instance.get(H.GET_BREAKER, 1);
  const openedAt = instance.get(H.GET_BREAKER, 2);
  if (openedAt >= 0) out.openedAt = openedAt;
  return out;
}

// 64 bits for the jitter of calls with no `random` callback, drawn on the first call (Workers
// forbid random numbers at load). Math.random, not crypto.getRandomValues: jitter needs
// numbers that differ from isolate to isolate, not secret ones (V8 seeds Math.random per
// isolate from the system's entropy), and Node loads its web crypto on first use, which cost
// 1.1 ms of the first call here.
function seedOf(instance) {
  instance.set(H.SET_SEED, (Math.random() * 4294967296) >>> 0, (Math.random() * 4294967296) >>> 0);
}

const isFunction = (f) => typeof f === "function";

// What a callback returned, if a promise, gets a handler: its rejection is dropped rather than
// left unhandled (which ends a Node process).
function dropRejection(returned) {
  if (returned !== null && typeof returned === "object" && typeof returned.then === "function") {
    Promise.resolve(returned).catch(() => {});
  }
}

// Calls an event callback (SPEC 8): whatever it throws or rejects with is dropped, so it never
// breaks a call or the instance.
function safely(callback, event) {
  try {
    dropRejection(callback(event));
  } catch {}
}

// Hands the core's pending events (breaker changes, storms) to onBreaker and onStorm.
function emit(instance, hooks) {
  for (let kind = instance.nextEvent(); kind !== 0; kind = instance.nextEvent()) {
    const key = instance.text(H.TEXT_EVENT_KEY), at = instance.get(H.GET_EVENT, 0), state = instance.get(H.GET_EVENT, 1);
    if (kind === 1 && hooks.onBreaker) safely(hooks.onBreaker, { key, state: BREAKER_STATES[state], at });
    if (kind === 2 && hooks.onStorm) {
      safely(hooks.onStorm, {
        key, state: state ? "storm" : "calm", retryRatio: instance.get(H.GET_EVENT, 2),
        attempts: instance.get(H.GET_EVENT, 3), windowMs: instance.get(H.GET_EVENT, 4), at,
      });
    }
  }
}

// Responses whose body was cancelled before a backoff wait (SPEC 3).
const released = new WeakSet();

// The call settles with a response whose body was released for a retry that then did not
// happen (the breaker opened, or the deadline came, during the wait): hand over its status
// and headers with an empty body, rather than a body that throws when read.
function withoutBody(response) {
  try {
    const copy = new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers });
    Object.defineProperty(copy, "url", { value: response.url });
    Object.defineProperty(copy, "redirected", { value: response.redirected });
    return copy;
  } catch {
    return response;
  }
}

// Callback fields are read again here. The core validated the object's own enumerable keys;
// a getter it never saw (inherited, non-enumerable) or one that throws only when read again
// still gives a TypeError naming the option, not its own error.
const readThrew = (name) => new TypeError(`edge-retry: invalid option "${name}": reading it threw`);

// The callbacks of an options object over those of the layer below (defaults): the layer
// below itself when the object names none (most per-call options), so nothing is made.
function hooksOf(options, base) {
  if (!options || typeof options !== "object") return base;
  // Read in one place, each name written out (a read through a variable name is a slow
  // lookup); `name` says which read threw.
  let name = "breaker";
  let breaker, ownKey, fetch, shouldRetry, onRetry, onAttempt, random;
  try {
    breaker = options.breaker;
    name = "breaker.key";
    ownKey = breaker && typeof breaker === "object" ? breaker.key : undefined;
    name = "fetch";
    fetch = options.fetch;
    name = "shouldRetry";
    shouldRetry = options.shouldRetry;
    name = "onRetry";
    onRetry = options.onRetry;
    name = "onAttempt";
    onAttempt = options.onAttempt;
    name = "random";
    random = options.random;
  } catch {
    throw readThrew(name);
  }
  const any = isFunction(ownKey) || isFunction(fetch) || isFunction(shouldRetry) || isFunction(onRetry) ||
    isFunction(onAttempt) || isFunction(random);
  if (!any) return base;
  return {
    fetch: isFunction(fetch) ? fetch : base.fetch,
    shouldRetry: isFunction(shouldRetry) ? shouldRetry : base.shouldRetry,
    onRetry: isFunction(onRetry) ? onRetry : base.onRetry,
    onAttempt: isFunction(onAttempt) ? onAttempt : base.onAttempt,
    random: isFunction(random) ? random : base.random,
    key: isFunction(ownKey) ? ownKey : base.key,
  };
}

// What untilStopped resolves with when the deadline passes and `onDeadline` is given.
const DEADLINE = Symbol("deadline");

// Runs `work(stop)` (stop: a promise that rejects when the caller aborts or the deadline
// passes, for work that reads a stream and must cancel it) and settles with the first of: its
// result, the abort's reason (rejects), or the deadline: `onDeadline` if given, else a
// TimeoutError. Nothing is left listening afterwards.
async function untilStopped(work, signal, deadline, onDeadline) {
  if (!signal && deadline < 0) return work(undefined);
  const [aborted, unsubscribe] = abortPromise(signal);
  let cancelTimer = null;
  const timedOut = deadline >= 0
    ? new Promise((resolve, reject) => {
        cancelTimer = startTimer(deadline - Date.now(), () => (onDeadline !== undefined ? resolve(onDeadline) : reject(timeoutError())));
      })
    : null;
  const stop = timedOut ? Promise.race([aborted, timedOut.then(() => Promise.reject(timeoutError()))]) : aborted;
  stop.catch(() => {});
  try {
    const racers = [work(stop), aborted];
    if (timedOut) racers.push(timedOut);
    return await Promise.race(racers);
  } finally {
    unsubscribe();
    if (cancelTimer) cancelTimer();
  }
}

const NO_HOOKS = { fetch: undefined, shouldRetry: undefined, onRetry: undefined, onAttempt: undefined, random: undefined, key: undefined };

// An instance: `retryFetch` bound to its own breakers, budgets and stats.
export function createRetryFetch(defaults) {
  const instance = new Instance();
  if (defaults !== undefined && !instance.configure(encodeOptions(defaults, "defaults"))) {
    throw new TypeError(instance.text(H.TEXT_ERROR)); // names the bad option
  }
  let seeded = false;
  // The core's lease (see run): the options' place and the key it holds for, if any, and
  // the timeout each call sent under it gets (-1: none).
  const NO_LEASE = -1;
  let leasePlace = NO_LEASE;
  let leaseKey = null;
  let leaseTimeout = -1;
  const leasedOut = new Uint32Array(DEFAULTS_PLACE + 1); // calls out under a lease, by place
  const kept = keptOptions(instance, (place) => {
    // A place may take new options only while no call sent under a lease needs its policy.
    if (leasedOut[place] > 0) return false;
    if (place === leasePlace) leasePlace = NO_LEASE;
    return true;
  });
  const waiting = { count: 0 }; // hedged calls' attempts waiting for headers (hedge.js)
  const baseHooks = hooksOf(defaults, NO_HOOKS);
  // onBreaker and onStorm are the instance's (SPEC 8); the core keeps events only for them.
  const events = {};
  if (defaults && typeof defaults === "object") {
    let name = "onBreaker";
    try {
      events.onBreaker = defaults.onBreaker;
      name = "onStorm";
      events.onStorm = defaults.onStorm;
    } catch {
      throw readThrew(name);
    }
  }
  const listening = isFunction(events.onBreaker) || isFunction(events.onStorm);
  if (listening) instance.set(H.SET_LISTEN, 1, 0);
  const flush = listening ? () => emit(instance, events) : () => {};
  // A leased call's 2xx is queued and recorded with others in a burst (leased-records.js),
  // unless events are listened for: they would come late.
  const recordLeased = listening ? null : deferLeasedRecords(instance, () => sentKey, () => (leasePlace = NO_LEASE));

  // Calls mostly repeat a URL, or its origin: remember the last one's. An origin the core
  // found written at a URL's start (`literal`) is the origin of any URL that starts with it
  // followed by the end of the authority ("/", "?", "#" or nothing): it is written as
  // URL.origin writes it, so no part of it reads otherwise, and the host and port end there.
  // Such a URL needs no crossing (nor its text copied into wasm).
  let lastUrl = null;
  let lastOrigin = "";
  let literal = false;
  const originOf = (url) => {
    if (url === lastUrl) return lastOrigin;
    if (literal && url.startsWith(lastOrigin)) {
      const next = url.charCodeAt(lastOrigin.length); // NaN past the end
      if (next !== next || next === 47 || next === 63 || next === 35) return lastOrigin;
    }
    const length = instance.originLength(url);
    literal = length > 0;
    let origin = url.slice(0, length);
    if (length === 0) {
      try {
        origin = new URL(url, globalThis.location ? globalThis.location.href : undefined).origin;
      } catch {
        origin = url;
      }
    }
    lastUrl = url;
    lastOrigin = origin;
    return origin;
  };

  // Starts a call in the core. The key crosses only when it is not the last one sent (calls
  // mostly repeat an origin), and the method as a number.
  let sentKey = null;
  function useKey(key) {
    if (key !== sentKey) {
      instance.setText(H.TEXT_KEY, key);
      sentKey = key;
    }
  }
  function start(id, key, method, flags, began, now) {
    useKey(key);
    let code = method === "GET" ? 0 : METHOD_CODES[method];
    if (code === undefined) {
      instance.setText(H.TEXT_METHOD, method);
      code = OTHER_METHOD;
    }
    return instance.start(id, code, flags, began, now);
  }

  // The deadline (ms since the epoch, or -1) of the call in slot `id` that began at `began`,
  // asked for only where it is needed: while a stream body is read and while shouldRetry thinks.
  function deadlineOf(id, began) {
    const timeoutMs = instance.get(H.GET_TIMEOUT_MS, id);
    return timeoutMs >= 0 ? began + timeoutMs : -1;
  }

  // What a call asks for, read before it starts: the state its run carries.
  function describeCall(input, callInit, hooks, began) {
    const init = readInit(callInit); // a getter that throws rejects the call, as with fetch
    const { request, url, method, signal, headers } = describeRequest(input, init);
    if (signal && signal.aborted) throw signal.reason;
    const key = hooks.key ? String(hooks.key(url)) : originOf(url);
    const stream = streamBody(input, init, request);
    // (`body` and `replayable` are set once a stream body has been read.)
    return { id: REFUSED, input, init, url, method, signal, headers, key, hooks, began, stream };
  }

  // `start`'s flags for a call, from its request.
  function flagsOf(call) {
    let flags = call.replayable !== false ? START_REPLAYABLE : 0;
    if (hasHeader(call.headers, "idempotency-key")) flags |= START_IDEMPOTENCY_KEY;
    return flags;
  }

  // Reports an attempt's outcome (hedge.js's too). Any outcome but a 2xx ends the lease: it
  // may open a breaker, and calls sent under the lease would skip it.
  function report(id, kind, value, status, random, now) {
    if (!isSuccessStatus(status)) leasePlace = NO_LEASE;
    return reportOutcome(instance, id, kind, value, status, random, now);
  }

  // Runs a call with the options at `place`, through a slot it opens, and closes the slot
  // however it ends. Not async itself: a call whose first attempt nothing but fetch or the
  // caller's abort can settle (no timeout, stream body or onAttempt) is awaited by
  // `sendFirst`, a small async function, since suspending and resuming a large one costs
  // more (about 60 ns a call here); every other call, and any attempt after the first, goes
  // through `runFrom`'s loop.
  //
  // Leases: when `start` answers SEND_LEASED (or SEND_LEASED_TIMED) for such a call, the
  // core says that calls like it (the same key and options) would be sent with nothing more
  // to decide while no failure is reported: its breaker is closed, the options do not hedge,
  // and each first attempt is cut after the same timeout, if any. The next ones then go out
  // without a slot or any crossing (`sendFirst`), and a 2xx is recorded as the whole call,
  // with others in a burst. Any other outcome reported (a timeout too) ends the lease, as do
  // new options taking its place.
  function run(place, input, callInit, hooks) {
    let call;
    let action; // none yet while a stream body is to be read first
    let id = REFUSED;
    let plain = false;
    try {
      const began = Date.now();
      call = describeCall(input, callInit, hooks, began);
      plain = call.stream === undefined && !hooks.onAttempt;
      if (plain && place === leasePlace && call.key === leaseKey) return sendFirst(call, place, leaseTimeout);
      id = call.id = kept.open(place);
      if (id === REFUSED) throw new TypeError(instance.text(H.TEXT_ERROR));
      if (call.stream === undefined) {
        action = start(id, call.key, call.method, flagsOf(call), began, began);
        if (action === SEND_LEASED || action === SEND_LEASED_TIMED) {
          action = action === SEND_LEASED ? SEND : SEND_TIMED;
          if (plain && place !== UNKEPT) {
            leasePlace = place;
            leaseKey = call.key;
            leaseTimeout = action === SEND ? -1 : instance.get(H.GET_PARAM, id);
          }
        }
      }
    } catch (error) {
      if (id !== REFUSED) instance.close(id, Date.now());
      return Promise.reject(error);
    }
    flush(); // what starting changed (a breaker gone half-open), before anything is sent
    if (action === SEND && plain) return sendFirst(call, NO_LEASE);
    return runFrom(call, action);
  }

  // The first attempt of a plain call (see run): in its slot (`place` NO_LEASE), or sent
  // under the lease of the options at `place`, with no slot, and cut after `timeoutMs` when
  // the lease says so (attempt() then runs it). A 2xx from the platform's Response that
  // settles the call ends it here: the core closes the slot with the report, in one crossing,
  // or a leased call's record is queued, to be recorded whole with others (leased-records.js;
  // the core then says whether the lease goes on). Anything else goes
  // on in runFrom from what fetch gave (a leased call in a slot opened now, as a call the core
  // admitted when it was sent).
  async function sendFirst(call, place, timeoutMs = -1) {
    const leased = place !== NO_LEASE;
    const fetchFn = call.hooks.fetch || globalThis.fetch;
    let answer;
    let kind = FULFILLED;
    if (leased) leasedOut[place]++;
    if (timeoutMs >= 0) {
      // Never rejects; classified already (RESPONSE for a Response-like).
      [kind, answer] = await attempt(fetchFn, call.input, call.init, undefined, timeoutMs, call.signal, call.url);
    } else {
      try {
        const sent = fetchFn.call(globalThis, call.input, call.init);
        answer = await (call.signal ? untilAborted(sent, call.signal) : sent);
      } catch (error) {
        answer = error;
        kind = REJECTED;
      }
    }
    const at = Date.now();
    if (leased) leasedOut[place]--;
    if (kind === REJECTED && call.signal && call.signal.aborted) {
      kind = ABORTED;
      answer = call.signal.reason;
    }
    if ((kind === FULFILLED || kind === RESPONSE) && answer instanceof Response) {
      const status = answer.status;
      if (isSuccessStatus(status)) {
        if (leased && recordLeased) {
          recordLeased(place, call.key, status, call.began, at);
          return answer;
        }
        if (leased) useKey(call.key);
        const action = instance.response(leased ? LEASED + place : call.id, status, call.began, at);
        if (leased ? action !== MISUSE : action === SETTLE_LAST) {
          if (leased && action !== SEND_LEASED) leasePlace = NO_LEASE;
          flush();
          return answer;
        }
        if (!leased) return await runFrom(call, action, RESPONSE, answer, answer);
      }
    }
    if (leased) {
      try {
        // The place still holds the call's options: none replace them while it is out.
        call.id = instance.openAt(place);
        start(call.id, call.key, call.method, flagsOf(call) | START_ADMITTED, call.began, at);
      } catch (error) {
        instance.close(call.id, Date.now());
        if ((kind === FULFILLED || kind === RESPONSE) && isResponse(answer)) discard(answer);
        throw error;
      }
    }
    // Awaited, not returned: runFrom may settle before its first await (an abort), and
    // workerd reports a rejected promise that no handler awaits yet as unhandled, which
    // adopting it through `return` would leave to a later microtask.
    return await runFrom(call, ANSWERED, kind, answer, undefined, at);
  }

  // The loop of a call from `action` (undefined: read the stream body, then start), with the
  // last attempt's outcome (`kind`, `value`) and the response not yet handed over nor
  // discarded (`pending`); `at`: when the core last heard from the call, if nothing was
  // awaited since (the clock is read once per step: Date.now() is a good part of a call's
  // own cost).
  async function runFrom(call, action, kind = NETWORK, value = undefined, pending = undefined, at = undefined) {
    const { id, input, init, url, signal, key, hooks, began } = call;
    let closed = false; // the core closed the slot with the call's last response
    let retried = false; // a response may have been released for a retry (see withoutBody)
    try {
      if (action === undefined) {
        // A stream body is read into a replay buffer before anything is sent (SPEC 3).
        [call.replayable, call.body] = await untilStopped(
          (stop) => bufferBody(call.stream, instance.get(H.GET_REPLAY_LIMIT, id), stop), signal, deadlineOf(id, began));
        action = start(id, key, call.method, flagsOf(call), began, Date.now());
        // A stream body: not a call to lease.
        if (action === SEND_LEASED) action = SEND;
        else if (action === SEND_LEASED_TIMED) action = SEND_TIMED;
      }
      const body = call.body;
      if (action === SEND_HEDGED) {
        return await runHedged(instance, id, {
          fetchFn: hooks.fetch || globalThis.fetch, input, init, body, url, key, signal, hooks, flush, waiting, report,
          retry: (kind, value) => retry(id, kind, value, url, signal, began, hooks),
          settle: (action, kind, value) => settleHedged(id, action, kind, value, key, signal),
        });
      }
      let attemptNo = 0;
      let sentAt = 0;
      try {
        for (;;) {
          flush();
          const fetchFn = hooks.fetch || globalThis.fetch;
          if (isSend(action)) {
            attemptNo = hooks.onAttempt ? instance.get(H.GET_ATTEMPT, id) : 0;
            sentAt = hooks.onAttempt ? Date.now() : 0;
            const timeoutMs = action === SEND ? -1 : instance.get(H.GET_PARAM, id);
            if (timeoutMs < 0 && !signal && body === undefined) {
              // An attempt nothing but fetch can settle, awaited here rather than through
              // attempt(): one promise and one microtask fewer.
              try {
                value = await fetchFn.call(globalThis, input, init);
                kind = FULFILLED;
              } catch (error) {
                value = error;
                kind = REJECTED;
              }
            } else {
              [kind, value] = await attempt(fetchFn, input, init, body, timeoutMs, signal, url);
            }
            at = Date.now();
            action = ANSWERED;
          }
          if (action === ANSWERED) {
            // What fetch gave, classified (attempt() classifies its own).
            if (kind === FULFILLED) {
              kind = isResponse(value) ? RESPONSE : INVALID;
              if (kind === INVALID) value = notAResponse(value);
            } else if (kind === REJECTED) {
              [kind, value] = rejected(value, fetchFn, input, url, init);
            }
            if (hooks.onAttempt) {
              const ev = { key, url, attempt: attemptNo, hedge: false, durationMs: at - sentAt };
              if (kind === RESPONSE) ev.status = value.status;
              else ev.error = kind === TIMEOUT ? timeoutError() : value;
              safely(hooks.onAttempt, ev);
              at = undefined; // the callback may have taken time
            }
            if (kind === ABORTED || kind === INVALID) {
              instance.act(H.ACT_ABORT, id, Date.now());
              throw value;
            }
            pending = kind === RESPONSE ? value : undefined;
            const status = statusOf(kind, value);
            action = report(id, kind, value, status, hooks.random, at ?? Date.now());
            // A 2xx went as numbers (`response`), and if it settled the call the core closed
            // the slot with it.
            closed = action === SETTLE_LAST && isSuccessStatus(status);
          } else if (action === RETRY) {
            at = undefined;
            action = await retry(id, kind, value, url, signal, began, hooks);
            pending = undefined;
            retried = true;
          } else if (action === SETTLE_LAST) {
            pending = undefined;
            if (kind === RESPONSE) return retried && released.has(value) ? withoutBody(value) : value;
            throw kind === TIMEOUT ? timeoutError() : value;
          } else if (action === SETTLE_DEADLINE) {
            throw timeoutError();
          } else if (action === SETTLE_CIRCUIT_OPEN) {
            throw new CircuitOpenError(key, instance.get(H.GET_PARAM, id));
          } else {
            throw signal && signal.aborted ? signal.reason : new TypeError("edge-retry: internal state error");
          }
        }
      } catch (error) {
        // A throwing callback or an abort: settle the call (a no-op if it already is), and
        // release a response that will never be handed over. (A closed slot may already
        // serve another call.)
        if (!closed) instance.act(H.ACT_ABORT, id, Date.now());
        flush();
        if (pending) discard(pending);
        throw error;
      }
    } finally {
      if (!closed) instance.close(id, at ?? Date.now());
    }
  }

  // How a hedged call ends, as the loop in `runFrom` ends a plain one.
  function settleHedged(id, action, kind, value, key, signal) {
    if (action === SETTLE_LAST) {
      if (kind === RESPONSE) return released.has(value) ? withoutBody(value) : value;
      throw kind === TIMEOUT ? timeoutError() : value;
    }
    if (action === SETTLE_DEADLINE) throw timeoutError();
    if (action === SETTLE_CIRCUIT_OPEN) throw new CircuitOpenError(key, instance.get(H.GET_PARAM, id));
    throw signal && signal.aborted ? signal.reason : new TypeError("edge-retry: internal state error");
  }

  // Between attempts: ask shouldRetry, release the discarded body, tell onRetry, wait, resume.
  async function retry(id, kind, value, url, signal, began, hooks) {
    const attemptNo = instance.get(H.GET_ATTEMPT, id);
    const delayMs = instance.get(H.GET_PARAM, id);
    const response = kind === RESPONSE ? value : undefined;
    const error = response ? undefined : kind === TIMEOUT ? timeoutError() : value;
    if (hooks.shouldRetry) {
      // The caller's abort and the call's deadline hold while shouldRetry thinks: an abort
      // rejects at once; the deadline settles with this outcome, as it would cut the wait.
      const ctx = response ? { attempt: attemptNo, response, delayMs } : { attempt: attemptNo, error, delayMs };
      const verdict = await untilStopped(() => hooks.shouldRetry(ctx), signal, deadlineOf(id, began), DEADLINE);
      // Only false stops; true, undefined or anything else leaves it to the rules (SPEC 2).
      if (verdict === false || verdict === DEADLINE) return instance.act(H.ACT_DECLINE, id, Date.now());
    }
    if (response) {
      discard(response);
      released.add(response);
    }
    if (hooks.onRetry) {
      const event = { attempt: attemptNo, delayMs, reason: REASONS[instance.get(H.GET_REASON, id)] };
      if (response) event.status = response.status;
      else event.error = error;
      event.url = url;
      // Not awaited: a promise it returns that rejects is dropped. (A throw ends the call.)
      dropRejection(hooks.onRetry(event));
    }
    await sleep(delayMs, signal);
    return instance.act(H.ACT_RESUME, id, Date.now());
  }

  // Not async: a call with the defaults goes from here to fetch with no promise of its own.
  // Whatever is wrong before the call starts still rejects, as fetch would, never throws.
  const retryFetch = (input, init) => {
    try {
      let retry;
      if (init != null && typeof init === "object") {
        try {
          retry = init.retry;
        } catch {
          throw new TypeError('edge-retry: invalid option "retry": reading it threw');
        }
      }
      const place = retry === undefined ? DEFAULTS_PLACE : kept.placeOf(retry);
      if (place === REFUSED) throw new TypeError(instance.text(H.TEXT_ERROR)); // names the option: nothing is sent
      if (!seeded) {
        seeded = true;
        seedOf(instance);
      }
      const hooks = retry !== undefined && retry !== false ? hooksOf(retry, baseHooks) : baseHooks;
      return run(place, input, init, hooks);
    } catch (error) {
      return Promise.reject(error);
    }
  };
  retryFetch.stats = () => statsOf(instance);
  retryFetch.breaker = (key) => breakerOf(instance, String(key));
  // For edge-retry/fleet (fleet-isolate.js), which shares this instance's breakers; not API.
  Object.defineProperty(retryFetch, Symbol.for("edge-retry.instance"), { value: instance });
  return retryFetch;
}
