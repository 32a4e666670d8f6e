// Hedged calls (SPEC 9): several attempts of one call in flight. The core decides (when a
// hedge may go, which outcome wins, whether to retry); this loop sends, times and reports.
// driver.js hands a call here only when the core's `start` says SEND_HEDGED, so a call
// without `hedge` never runs any of it.
import { attempt, discard, statusOf, RESPONSE, TIMEOUT, ABORTED, INVALID } from "./attempt.js";
import { startTimer } from "./timers.js";
import { onAbort } from "./signals.js";
import { timeoutError } from "./errors.js";
import { GET_ATTEMPT, GET_PARAM, GET_HEDGE_AFTER, ACT_ABORT, ACT_HEDGE, SET_ANSWERED, RETRY, PENDING, isSend } from "./codes.js";

// Why a losing attempt is aborted (its fetch rejects with this; nobody sees it).
function lostError() {
  try {
    return new DOMException("edge-retry: another attempt of this call answered first", "AbortError");
  } catch {
    return new Error("edge-retry: another attempt of this call answered first");
  }
}

// An AbortSignal that aborts when the caller's does or when `controller` is aborted (a
// loser). AbortSignal.any holds its sources weakly; where it is missing, a subscription on the
// caller's signal does the same for as long as the call lasts.
function linked(signal, controller) {
  if (!signal) return [controller.signal, null];
  if (typeof AbortSignal.any === "function") return [AbortSignal.any([signal, controller.signal]), null];
  return [controller.signal, onAbort(signal, (reason) => controller.abort(reason))];
}

// Browsers hold a second request for a URL until the first one's response is in their HTTP
// cache (Chromium's cache lock), which would keep a hedge from leaving until the slow attempt
// it should overtake has answered. A hedge there skips the cache; a hedge never wanted a
// cached answer anyway, since the first attempt found none. Other runtimes have no such
// cache (workerd refuses most cache modes).
const BROWSER = typeof navigator === "object" && navigator !== null && /Mozilla\//.test(String(navigator.userAgent));

// A Worker may have six outgoing connections waiting for response headers at once (the
// runtime queues a seventh, ahead of the Worker's later fetches), and browsers open six
// HTTP/1.1 connections per host: there no hedge goes while six attempts of an instance's
// hedged calls are waiting for headers (the hedge timer is set again instead). The count is
// the instance's, across every request an isolate serves: it errs towards fewer hedges.
// Node, Deno and Bun have no such limit.
const WORKERS = typeof navigator === "object" && navigator !== null && navigator.userAgent === "Cloudflare-Workers";
export const MAX_WAITING = BROWSER || WORKERS ? 6 : Infinity;


// Runs a hedged call whose first attempt the core has just allowed. `call` gives what the
// attempts need (fetchFn, input, init, body, url, key, signal, hooks) and three hooks of
// driver.js: flush (events), retry(kind, value) (shouldRetry, onRetry, the wait; resolves with
// the next action code) and settle(action, kind, value) (returns the response or throws).
// `call.waiting` is the instance's count of hedged calls' attempts waiting for headers.
export async function runHedged(instance, id, call) {
  const { fetchFn, input, init, body, url, key, signal, hooks, waiting, report } = call;
  const flights = new Map(); // attempt number -> { controller, sentAt, hedge, unsubscribe }
  const queue = []; // attempt results and hedge-timer firings, in the order they came
  let wake = null;
  let over = false;
  let cancelHedgeTimer = null;

  const push = (event) => {
    if (over) {
      // An attempt that answered after the call was decided: release its connection.
      if (event.kind === RESPONSE) discard(event.value);
      return;
    }
    queue.push(event);
    if (wake) {
      const resolve = wake;
      wake = null;
      resolve();
    }
  };
  const next = async () => {
    while (queue.length === 0) await new Promise((resolve) => (wake = resolve));
    return queue.shift();
  };

  const launch = (hedge) => {
    const no = instance.get(GET_ATTEMPT, id);
    const timeoutMs = instance.get(GET_PARAM, id);
    const controller = new AbortController();
    const [attemptSignal, unsubscribe] = linked(signal, controller);
    const attemptInit = init ? { ...init, signal: attemptSignal } : { signal: attemptSignal };
    if (hedge && BROWSER && attemptInit.cache !== "only-if-cached") attemptInit.cache = "no-store";
    flights.set(no, { controller, sentAt: Date.now(), hedge, unsubscribe });
    waiting.count++;
    attempt(fetchFn, input, attemptInit, body, timeoutMs, attemptSignal, url).then(([kind, value]) => {
      waiting.count--;
      push({ no, kind, value });
    });
  };

  const armHedge = () => {
    if (cancelHedgeTimer) cancelHedgeTimer();
    cancelHedgeTimer = null;
    const after = instance.get(GET_HEDGE_AFTER, id);
    if (after >= 0) {
      cancelHedgeTimer = startTimer(after, () => {
        cancelHedgeTimer = null;
        push({ hedge: true });
      });
    }
  };

  // The call is decided (or over): every attempt still out loses, its fetch aborted so its
  // connection closes, and no hedge is asked for.
  const stopOthers = () => {
    if (cancelHedgeTimer) cancelHedgeTimer();
    cancelHedgeTimer = null;
    for (const flight of flights.values()) {
      flight.controller.abort(lostError());
      if (flight.unsubscribe) flight.unsubscribe();
    }
    flights.clear();
  };

  let kind, value;
  try {
    launch(false);
    armHedge();
    for (;;) {
      const event = await next();
      call.flush();
      if (event.hedge) {
        // At the connection limit the core is not asked (nothing is paid): the timer is set
        // again, since the core's hedge delay still stands.
        const room = waiting.count < MAX_WAITING;
        if (room && flights.size > 0 && isSend(instance.act(ACT_HEDGE, id, Date.now()))) launch(true);
        armHedge();
        continue;
      }
      const flight = flights.get(event.no);
      flights.delete(event.no);
      ({ kind, value } = event);
      if (hooks.onAttempt && flight) {
        const ev = { key, url, attempt: event.no, hedge: flight.hedge, durationMs: Date.now() - flight.sentAt };
        if (kind === RESPONSE) ev.status = value.status;
        else ev.error = kind === TIMEOUT ? timeoutError() : value;
        // Whatever it throws or rejects with is dropped (SPEC 8): never an unhandled rejection.
        try {
          const returned = hooks.onAttempt(ev);
          if (returned !== null && typeof returned === "object" && typeof returned.then === "function") {
            Promise.resolve(returned).catch(() => {});
          }
        } catch {}
      }
      if (kind === ABORTED || kind === INVALID) throw value;
      const response = kind === RESPONSE ? value : undefined;
      instance.set(SET_ANSWERED, id, event.no);
      let action = report(id, kind, value, statusOf(kind, value), hooks.random, Date.now());
      if (action === PENDING) {
        // Would be retried, but another attempt is still out: the call goes on with that one.
        if (response) discard(response);
        continue;
      }
      stopOthers();
      if (action === RETRY) action = await call.retry(kind, value);
      if (isSend(action)) {
        launch(false);
        armHedge();
        continue;
      }
      over = true;
      return call.settle(action, kind, value);
    }
  } catch (error) {
    instance.act(ACT_ABORT, id, Date.now());
    call.flush();
    if (kind === RESPONSE && value) discard(value); // never handed over
    throw error;
  } finally {
    over = true;
    stopOthers();
    for (const event of queue) if (event.kind === RESPONSE && event.value !== value) discard(event.value);
    queue.length = 0;
  }
}
