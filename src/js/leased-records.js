// The 2xx of calls sent under a lease (driver.js's `run`), recorded in the core in bursts
// rather than one crossing each.
//
// A call's answer comes after an I/O wait, by which time the machine has run other code and
// the core's code and state have left the CPU's caches: in workerd over loopback, the one
// crossing that recorded a leased 2xx cost 2.5-3 µs a call (against 0.07 µs in a hot loop), most
// of what retryFetch added to fetch there. Queued, 32 records cross together, warm.
//
// What the core sees does not change: every method of the instance first replays the records
// queued, in order, each with the times its call began and ended. So any other call into the
// core (another call's step, stats(), breaker(), the fleet's syncs) finds the core exactly as
// if each record had been made when its call ended. Only events would come late, so a driver
// whose instance listens for them (onBreaker, onStorm) does not defer.

import { LEASED, SEND_LEASED, TEXT_KEY } from "./codes.js";

const BURST = 32;

// Puts a method in front of each of `instance`'s (own properties before its prototype's) and
// returns `record(place, key, status, began, at)`. `sentKey()` is the key driver.js last gave
// the core, which a replay gives back; `endLease()` is called when a record answers that the
// lease ends.
export function deferLeasedRecords(instance, sentKey, endLease) {
  const { response, setText } = instance;
  const queue = []; // five entries a record: place, key, status, began, at

  function replay() {
    const records = queue.splice(0);
    const before = sentKey();
    let key = before;
    for (let i = 0; i < records.length; i += 5) {
      if (records[i + 1] !== key) setText.call(instance, TEXT_KEY, (key = records[i + 1]));
      if (response.call(instance, LEASED + records[i], records[i + 2], records[i + 3], records[i + 4]) !== SEND_LEASED) endLease();
    }
    if (key !== before && before !== null) setText.call(instance, TEXT_KEY, before);
  }

  const prototype = Object.getPrototypeOf(instance);
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const method = prototype[name]; // the glue's Instance has methods only, no accessors
    // Fixed arity (no rest array: these sit on every crossing); the most any method takes is 9.
    if (name !== "constructor" && typeof method === "function") {
      instance[name] = (a, b, c, d, e, f, g, h, i) => {
        if (queue.length) replay();
        return method.call(instance, a, b, c, d, e, f, g, h, i);
      };
    }
  }

  return (place, key, status, began, at) => {
    if (queue.push(place, key, status, began, at) === BURST * 5) replay();
  };
}
