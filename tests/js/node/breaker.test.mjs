// SPEC §5: the per-origin circuit breaker, against a real server that counts what reaches it.
import assert from "node:assert/strict";
import { createRetryFetch, CircuitOpenError } from "../../../pkg/node.js";
import {
  test,
  before,
  after,
  describe,
  uniquePath,
  sleep,
  until,
  timed,
  between,
  assertNoMoreRequests,
  requestsAfter,
  useFaultServer,
} from "./_helpers.mjs";

const srv = useFaultServer();

const BREAKER = { minimumRequests: 4, failureRatio: 0.5, windowMs: 10000, openMs: 300, halfOpenProbes: 1 };
const ONE = { maxAttempts: 1, baseDelayMs: 1, jitter: "none", budget: false };

function isOpenError(key, maxRetryAfterMs, minRetryAfterMs = 0) {
  return (e) => {
    assert.ok(e instanceof CircuitOpenError, `a CircuitOpenError (${e})`);
    assert.ok(e instanceof Error);
    assert.equal(e.name, "CircuitOpenError");
    assert.equal(e.key, key);
    assert.equal(typeof e.retryAfterMs, "number");
    between(e.retryAfterMs, minRetryAfterMs, maxRetryAfterMs, "retryAfterMs");
    return true;
  };
}

async function failTimes(rf, url, n) {
  for (let i = 0; i < n; i++) {
    const res = await rf(url);
    await res.arrayBuffer();
  }
}

describe("§5 closed -> open -> half-open -> closed", () => {
  test("opens at minimumRequests with the failure ratio reached; refuses with no request; half-opens after openMs; a success closes it", async () => {
    const path = uniquePath("cycle");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 3);
    assert.equal(rf.breaker(srv.origin).state, "closed", "3 outcomes < minimumRequests 4");
    const tBefore = Date.now();
    await failTimes(rf, srv.url(path), 1);
    const b = rf.breaker(srv.origin);
    assert.equal(b.state, "open");
    assert.equal(b.failures, 4);
    assert.equal(b.successes, 0);
    assert.equal(typeof b.openedAt, "number");
    between(b.openedAt, tBefore - 50, Date.now() + 50, "openedAt (ms since the epoch)");
    assert.equal(srv.requests(path).length, 4);

    // open: refused, nothing reaches the server, on any path of the origin
    const other = uniquePath("cycle-other");
    const { ms } = await timed(assert.rejects(rf(srv.url(path)), isOpenError(srv.origin, 300)));
    await assert.rejects(rf(srv.url(other), { method: "PUT", body: "x" }), isOpenError(srv.origin, 300));
    assert.ok(ms < 100, `fails fast (${ms.toFixed(0)} ms)`);
    await sleep(30);
    assert.equal(srv.requests(path).length, 4, "no request while open");
    assert.equal(srv.requests(other).length, 0, "no request while open");

    // half-open once openMs has passed, with no call needed
    assert.ok(await until(() => rf.breaker(srv.origin).state === "half-open", 1500), "becomes half-open");
    assert.ok(Date.now() - b.openedAt >= 280, "not before openMs");

    // a success closes it
    srv.script(path, [{ status: 200 }]);
    const res = await rf(srv.url(path));
    assert.equal(res.status, 200);
    assert.equal(rf.breaker(srv.origin).state, "closed");
    assert.equal(srv.requests(path).length, 5);
    // and calls flow again
    assert.equal((await rf(srv.url(other))).status, 200);
  });

  test("a failed half-open probe opens it again", async () => {
    const path = uniquePath("reopen");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 4);
    const first = rf.breaker(srv.origin);
    assert.equal(first.state, "open");
    assert.ok(await until(() => rf.breaker(srv.origin).state === "half-open", 1500));
    const res = await rf(srv.url(path)); // the probe fails
    assert.equal(res.status, 503);
    const again = rf.breaker(srv.origin);
    assert.equal(again.state, "open");
    assert.ok(again.openedAt > first.openedAt, "openedAt moved");
    await assert.rejects(rf(srv.url(path)), isOpenError(srv.origin, 300));
    assert.equal(srv.requests(path).length, 5);
  });

  test("half-open lets halfOpenProbes (1) attempts through; other calls are refused meanwhile", async () => {
    const path = uniquePath("probe1");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 4);
    assert.ok(await until(() => rf.breaker(srv.origin).state === "half-open", 1500));
    srv.script(path, [{ status: 200, delayMs: 200 }]);
    const probe = rf(srv.url(path));
    await requestsAfter(srv, path, 5);
    await assert.rejects(rf(srv.url(path)), isOpenError(srv.origin, 30000));
    assert.equal(srv.requests(path).length, 5, "only the probe reached the server");
    assert.equal((await probe).status, 200);
    assert.equal(rf.breaker(srv.origin).state, "closed");
  });

  test("halfOpenProbes 2 lets two concurrent probes through and refuses the third", async () => {
    const path = uniquePath("probe2");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: { ...BREAKER, halfOpenProbes: 2 } });
    await failTimes(rf, srv.url(path), 4);
    assert.ok(await until(() => rf.breaker(srv.origin).state === "half-open", 1500));
    srv.script(path, [{ status: 200, delayMs: 200 }]);
    const p1 = rf(srv.url(path));
    const p2 = rf(srv.url(path));
    await requestsAfter(srv, path, 6);
    await assert.rejects(rf(srv.url(path)), isOpenError(srv.origin, 30000));
    assert.equal((await p1).status, 200);
    assert.equal((await p2).status, 200);
    assert.equal(srv.requests(path).length, 6);
    assert.equal(rf.breaker(srv.origin).state, "closed");
  });

  test("retries already under way stop when the breaker opens, and settle with their last outcome", async () => {
    const path = uniquePath("midcall");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, maxAttempts: 8, breaker: { ...BREAKER, minimumRequests: 3 } });
    const res = await rf(srv.url(path));
    assert.equal(res.status, 503, "resolves with the last response");
    assert.equal(rf.breaker(srv.origin).state, "open");
    await assertNoMoreRequests(srv, path, 3, 50);
  });

  test("retries under way stop on open with network errors too: rejects with the last TypeError", async () => {
    const path = uniquePath("midcall-net");
    srv.script(path, [{ reset: true }]);
    const rf = createRetryFetch({ ...ONE, maxAttempts: 8, breaker: { ...BREAKER, minimumRequests: 3 } });
    await assert.rejects(rf(srv.url(path)), (e) => e instanceof TypeError && !(e instanceof CircuitOpenError));
    await assertNoMoreRequests(srv, path, 3, 50);
  });
});

describe("§5 open: details", () => {
  test("retryAfterMs counts down the time left open", async () => {
    const path = uniquePath("countdown");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: { ...BREAKER, openMs: 1000 } });
    await failTimes(rf, srv.url(path), 4);
    const first = await rf(srv.url(path)).catch((e) => e);
    await sleep(300);
    const later = await rf(srv.url(path)).catch((e) => e);
    assert.ok(first instanceof CircuitOpenError && later instanceof CircuitOpenError);
    between(first.retryAfterMs, 900, 1000, "at first");
    between(later.retryAfterMs, first.retryAfterMs - 450, first.retryAfterMs - 250, "300 ms later");
  });

  test("a call waiting between retries when another call opens the breaker settles with its last response", async () => {
    const slow = uniquePath("waiting");
    const other = uniquePath("opener");
    srv.script(slow, [{ status: 503, body: "mine" }, { status: 200 }]);
    srv.script(other, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    const waiting = rf(srv.url(slow), { retry: { maxAttempts: 3, baseDelayMs: 300 } });
    await requestsAfter(srv, slow, 1);
    await failTimes(rf, srv.url(other), 3); // with the waiting call's 503: 4 failures
    assert.equal(rf.breaker(srv.origin).state, "open");
    const res = await waiting;
    assert.equal(res.status, 503, "its last outcome, not a CircuitOpenError");
    // Its body is not read here: SPEC §3 has the discarded body cancelled before the wait
    // begins, so a response settled after an interrupted wait can carry a cancelled body.
    assert.equal(srv.requests(slow).length, 1, "no retry reached the server");
  });

  test("per-call breaker: false goes through an open breaker", async () => {
    const path = uniquePath("bypass");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 4);
    await assert.rejects(rf(srv.url(path)), CircuitOpenError);
    srv.script(path, [{ status: 200 }]);
    const res = await rf(srv.url(path), { retry: { breaker: false } });
    assert.equal(res.status, 200);
    assert.equal(srv.requests(path).length, 5);
  });
});

describe("§5 what counts as a failure", () => {
  test("4xx (429 included) is not a failure", async () => {
    const path = uniquePath("4xx");
    srv.script(path, [{ status: 429 }, { status: 404 }, { status: 400 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 10);
    const b = rf.breaker(srv.origin);
    assert.equal(b.state, "closed");
    assert.equal(b.failures, 0);
    assert.equal(srv.requests(path).length, 10);
  });

  test("a 5xx not in retryOn (501; 500 with retryOn []) is not a failure", async () => {
    const path = uniquePath("501");
    srv.script(path, [{ status: 501 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 6);
    assert.equal(rf.breaker(srv.origin).state, "closed");
    assert.equal(rf.breaker(srv.origin).failures, 0);

    const p2 = uniquePath("500-not-retried");
    srv.script(p2, [{ status: 500 }]);
    const rf2 = createRetryFetch({ ...ONE, retryOn: [], breaker: BREAKER });
    await failTimes(rf2, srv.url(p2), 6);
    assert.equal(rf2.breaker(srv.origin).state, "closed");
  });

  test("network errors and attempt timeouts are failures", async () => {
    const path = uniquePath("net-fail");
    srv.script(path, [{ reset: true }, { hang: true }]);
    const rf = createRetryFetch({ ...ONE, attemptTimeoutMs: 50, breaker: BREAKER });
    await assert.rejects(rf(srv.url(path)), TypeError);
    await assert.rejects(rf(srv.url(path)), (e) => e.name === "TimeoutError");
    assert.equal(rf.breaker(srv.origin).failures, 2);
    await assert.rejects(rf(srv.url(path)));
    await assert.rejects(rf(srv.url(path)));
    assert.equal(rf.breaker(srv.origin).state, "open");
    await assert.rejects(rf(srv.url(path)), isOpenError(srv.origin, 300));
    assert.equal(srv.requests(path).length, 4);
  });

  test("breaker(key) reports the window's failures and successes", async () => {
    const path = uniquePath("counts");
    srv.script(path, [{ status: 200 }, { status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 3);
    const b = rf.breaker(srv.origin);
    assert.equal(b.state, "closed");
    assert.equal(b.failures, 1);
    assert.equal(b.successes, 2);
    assert.equal(b.openedAt, undefined, "no openedAt before it ever opened");
  });

  test("the ratio: below failureRatio stays closed, reaching it opens", async () => {
    const path = uniquePath("ratio");
    // 3 successes then 1 failure: 1/4 < 0.5
    srv.script(path, [{ status: 200 }, { status: 200 }, { status: 200 }, { status: 503 }, { status: 503 }, { status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 4);
    assert.equal(rf.breaker(srv.origin).state, "closed", "1 of 4");
    await failTimes(rf, srv.url(path), 1);
    assert.equal(rf.breaker(srv.origin).state, "closed", "2 of 5");
    await failTimes(rf, srv.url(path), 1);
    assert.equal(rf.breaker(srv.origin).state, "open", "3 of 6 reaches 0.5");
  });

  test("windowMs: outcomes older than the window no longer count", async () => {
    const path = uniquePath("window");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: { ...BREAKER, windowMs: 300 } });
    await failTimes(rf, srv.url(path), 3);
    await sleep(500);
    await failTimes(rf, srv.url(path), 2);
    assert.equal(rf.breaker(srv.origin).state, "closed", "only 2 outcomes in the window");
    await failTimes(rf, srv.url(path), 2);
    assert.equal(rf.breaker(srv.origin).state, "open");
  });
});

describe("§5 defaults, keys, off", () => {
  test("defaults: minimumRequests 10, failureRatio 0.9, openMs 10 (README: scenario table)", async () => {
    const path = uniquePath("defaults");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ maxAttempts: 1, budget: false });
    await failTimes(rf, srv.url(path), 9);
    assert.equal(rf.breaker(srv.origin).state, "closed", "9 < 10");
    await failTimes(rf, srv.url(path), 1);
    const opened = performance.now();
    assert.equal(rf.breaker(srv.origin).state, "open");
    // Refused while the 10 ms last (a slow machine may already be past them: then it probes).
    const early = await rf(srv.url(path)).then(() => null, (e) => e);
    if (performance.now() - opened < 8) {
      assert.ok(early && isOpenError(srv.origin, 10)(early), `refused within openMs: ${early}`);
      assert.equal(srv.requests(path).length, 10);
    }
    await sleep(20);
    assert.equal(rf.breaker(srv.origin).state, "half-open", "after openMs 10");

    // halfOpenProbes 1000: once half-open, traffic flows as probes (not one while the rest
    // are refused), and the first success closes it.
    srv.script(path, [{ status: 200, delayMs: 50 }]);
    const before = srv.requests(path).length;
    const settled = await Promise.allSettled(Array.from({ length: 20 }, () => rf(srv.url(path))));
    assert.deepEqual(settled.map((s) => s.status === "fulfilled" && s.value.status), Array(20).fill(200));
    assert.equal(srv.requests(path).length - before, 20, "every call reached the server");
    assert.equal(rf.breaker(srv.origin).state, "closed");

    // ratio default 0.9: 1 success and 9 failures opens, 2 and 8 does not (fresh instances)
    const p2 = uniquePath("defaults-ratio");
    srv.script(p2, [{ status: 200 }, { status: 503 }]);
    const rf2 = createRetryFetch({ maxAttempts: 1, budget: false });
    await failTimes(rf2, srv.url(p2), 10);
    assert.equal(rf2.breaker(srv.origin).state, "open", "9/10 reaches 0.9");
    const p3 = uniquePath("defaults-ratio2");
    srv.script(p3, [{ status: 200 }, { status: 200 }, { status: 503 }]);
    const rf3 = createRetryFetch({ maxAttempts: 1, budget: false });
    await failTimes(rf3, srv.url(p3), 10);
    assert.equal(rf3.breaker(srv.origin).state, "closed", "8/10 < 0.9");
  });

  test("per-origin: 127.0.0.1 open does not affect localhost (same server, another origin)", async () => {
    const path = uniquePath("origins");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(rf, srv.url(path), 4);
    assert.equal(rf.breaker(srv.origin).state, "open");
    assert.equal(rf.breaker(srv.altOrigin).state, "closed");
    srv.script(path, [{ status: 200 }]);
    const res = await rf(srv.altUrl(path));
    assert.equal(res.status, 200);
    assert.equal(srv.requests(path).length, 5);
    assert.equal(srv.requests(path)[4].headers.host, `localhost:${srv.port}`);
    await assert.rejects(rf(srv.url(path)), isOpenError(srv.origin, 300));
  });

  test("the breaker key is the origin: scheme, host and port (not the path or query)", async () => {
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    srv.script("/k/a", [{ status: 503 }]);
    srv.script("/k/b", [{ status: 503 }]);
    await failTimes(rf, srv.url("/k/a?x=1"), 2);
    await failTimes(rf, srv.url("/k/b#frag"), 2);
    assert.equal(rf.breaker(srv.origin).state, "open");
    assert.equal(rf.breaker(srv.origin).failures, 4);
  });

  test("URLs that differ from an origin's only after its host and port share its key; one that goes on in the authority does not", async () => {
    const keys = [];
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER, onAttempt: (ev) => keys.push(ev.key) });
    const send = async (url) => {
      try {
        await (await rf(url)).arrayBuffer();
      } catch {} // the URLs the platform's fetch refuses: only their keys matter here
    };
    const same = [srv.url("/k/c"), srv.url("/k/d?x=1"), `${srv.origin}?q`, `${srv.origin}#f`, srv.origin];
    for (const url of same) await send(url);
    assert.deepEqual(keys, same.map(() => srv.origin));
    // After the origin: user info (the host is what follows "@"), a longer port, a longer host.
    await send(`${srv.origin}@localhost:${srv.port}/`);
    await send(srv.url("/k/c"));
    await send(`${srv.origin}0/`);
    await send(srv.url("/k/c"));
    await send(`${srv.origin}.x/`);
    assert.deepEqual(keys.slice(same.length), [srv.altOrigin, srv.origin, `${srv.origin}0/`, srv.origin, `${srv.origin}.x/`]);
  });

  test("a custom key function groups URLs its own way", async () => {
    const seenUrls = [];
    const key = (url) => {
      seenUrls.push(url);
      return "svc:" + new URL(url).pathname.split("/")[1];
    };
    const rf = createRetryFetch({ ...ONE, breaker: { ...BREAKER, key } });
    srv.script("/alpha/1", [{ status: 503 }]);
    srv.script("/alpha/2", [{ status: 503 }]);
    await failTimes(rf, srv.url("/alpha/1"), 2);
    await failTimes(rf, srv.altUrl("/alpha/2"), 2); // another origin, same key
    assert.equal(rf.breaker("svc:alpha").state, "open");
    assert.equal(rf.breaker(srv.origin).state, "closed", "the origin key is not used");
    await assert.rejects(rf(srv.url("/alpha/3")), isOpenError("svc:alpha", 300));
    assert.equal(srv.requests("/alpha/3").length, 0);
    // another key flows
    assert.equal((await rf(srv.url("/beta/1"))).status, 200);
    assert.ok(seenUrls.every((u) => typeof u === "string" && /^http:\/\/(127\.0\.0\.1|localhost):\d+\//.test(u)), `key got URLs: ${seenUrls[0]}`);
  });

  test("per-call breaker.key option is honoured", async () => {
    const rf = createRetryFetch({ ...ONE, breaker: BREAKER });
    const path = uniquePath("callkey");
    srv.script(path, [{ status: 503 }]);
    const retry = { breaker: { ...BREAKER, key: () => "custom-call-key" } };
    await failTimes((u) => rf(u, { retry }), srv.url(path), 4);
    assert.equal(rf.breaker("custom-call-key").state, "open");
    await assert.rejects(rf(srv.url(path), { retry }), isOpenError("custom-call-key", 300));
  });

  test("breaker: false never refuses", async () => {
    const path = uniquePath("off");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...ONE, breaker: false });
    await failTimes(rf, srv.url(path), 25);
    assert.equal((await rf(srv.url(path))).status, 503);
    assert.equal(srv.requests(path).length, 26);
    assert.equal(rf.stats().breakerRejections, 0);
  });

  test("instances have their own breakers", async () => {
    const path = uniquePath("instances");
    srv.script(path, [{ status: 503 }]);
    const a = createRetryFetch({ ...ONE, breaker: BREAKER });
    const b = createRetryFetch({ ...ONE, breaker: BREAKER });
    await failTimes(a, srv.url(path), 4);
    assert.equal(a.breaker(srv.origin).state, "open");
    assert.equal(b.breaker(srv.origin).state, "closed");
    assert.equal((await b(srv.url(path))).status, 503);
  });

  test("breaker(key) of an unknown key reports closed with zero counts", () => {
    const rf = createRetryFetch();
    const b = rf.breaker("https://never.example");
    assert.equal(b.state, "closed");
    assert.equal(b.failures, 0);
    assert.equal(b.successes, 0);
  });
});
