// The caller's AbortSignal, watched with one listener per signal however many calls use it.
//
// A server often passes one long-lived signal (its shutdown signal) to every request. Adding a
// listener per call or per attempt would pile them up on that signal for the life of the
// process (Node warns past ten), and each would keep its call's state reachable. Instead each
// signal gets a single listener that fans out to the current subscribers, and every
// subscription is dropped as soon as what it guards has ended.

const fanouts = new WeakMap(); // signal -> Set of subscribers

function fanoutOf(signal) {
  let subscribers = fanouts.get(signal);
  if (!subscribers) {
    subscribers = new Set();
    const onAbort = () => {
      fanouts.delete(signal);
      for (const subscriber of subscribers) {
        try {
          subscriber(signal.reason);
        } catch {
          // One subscriber's failure must not keep the others from hearing of the abort.
        }
      }
      subscribers.clear();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    subscribers.onAbort = onAbort;
    fanouts.set(signal, subscribers);
  }
  return subscribers;
}

// Calls `subscriber(reason)` once when `signal` aborts (at once if it already has). Returns a
// function that unsubscribes; the signal's listener goes when its last subscriber does.
export function onAbort(signal, subscriber) {
  if (!signal) return noop;
  if (signal.aborted) {
    subscriber(signal.reason);
    return noop;
  }
  const subscribers = fanoutOf(signal);
  subscribers.add(subscriber);
  return () => {
    if (!subscribers.delete(subscriber) || subscribers.size > 0) return;
    if (fanouts.get(signal) === subscribers) fanouts.delete(signal);
    signal.removeEventListener("abort", subscribers.onAbort);
  };
}

function noop() {}

// A promise that rejects with the signal's reason when it aborts, and the function that stops
// watching. Rejections are marked handled: the promise is only ever raced.
export function abortPromise(signal) {
  let unsubscribe = noop;
  const promise = new Promise((_, reject) => {
    unsubscribe = onAbort(signal, reject);
  });
  promise.catch(noop);
  return [promise, unsubscribe];
}
