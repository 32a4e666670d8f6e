#!/usr/bin/env python3
"""Writes the hand-made seeds of the fuzz corpora: fuzz/corpus/<target>/seed-<name>.

`headers` reads plain bytes. `options` and `call` read their input through `arbitrary` (1.x)
from the derived types in fuzz_targets/*.rs; this file encodes values the way `arbitrary`
decodes them: integers little-endian, a bool as a byte (& 1), an Option as a bool then the
value, a Vec as (1, element)* then 0, an enum variant k of n as a u32 tag with
(tag * n) >> 32 == k, struct fields in order. Keep it in step with those types.

Run: python3 fuzz/seeds.py   (overwrites the seed-* files only)
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
NOW_MS = 1_795_000_000_000


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- the arbitrary encoding --------------------------------------------------------------------
def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def i32(v): return struct.pack("<i", v)
def f64bits(x): return struct.pack("<d", x)
def boolean(b): return u8(1 if b else 0)
def option(v): return boolean(False) if v is None else boolean(True) + v
def vec(items): return b"".join(u8(1) + i for i in items) + u8(0)
def tag(k, n): return u32((k * 2**32 + n - 1) // n)


# --- headers: plain bytes -----------------------------------------------------------------------
HEADER_SEEDS = {
    "delta": b"120",
    "delta-ows": b" 0 ",
    "delta-huge": b"1234567890123456789012345678901234567890",
    "imf": b"Sun, 06 Nov 1994 08:49:37 GMT",
    "imf-future": b"Wed, 18 Nov 2026 11:06:50 GMT",
    "imf-leap-day": b"Thu, 29 Feb 2024 00:00:00 GMT",
    "imf-leap-second": b"Wed, 31 Dec 2025 23:59:60 GMT",
    "imf-9999": b"Fri, 31 Dec 9999 23:59:59 GMT",
    "rfc850": b"Sunday, 06-Nov-94 08:49:37 GMT",
    "rfc850-next-year": b"Friday, 01-Jan-27 00:00:00 GMT",
    "asctime": b"Sun Nov  6 08:49:37 1994",
    "asctime-two-digit-day": b"Wed Nov 18 11:06:50 2026",
    "ratelimit": b'"default";r=0;t=30',
    "ratelimit-list": b'"a";r=5;t=1, "b";r=0;t=60',
    "ratelimit-stacked": b'"quota"; r=96; t=3600, "burst"; r=0; t=2',
    "ratelimit-draft7": b"limit=3, remaining=0, reset=2",
    "ratelimit-quoted": b'"a;t=99,\\"b\\\\";r=0;t=2',
    "ratelimit-open-string": b'"open;r=0;t=2',
    "x-reset-epoch": b"1795000005",
    "x-reset-epoch-past": b"1794999998",
    "hints-all": b'nope\n4\n"default";r=0;t=7\n30',
    "hints-fallback": b'\n\nt=9\n1795000009',
    # The same values at other instants (the last 8 bytes are now, in ms).
    "rfc850-at-1970": b"Thursday, 01-Jan-70 00:00:00 GMT" + u64(0),
    "rfc850-far-future": b"Sunday, 06-Nov-94 08:49:37 GMT" + u64(2**64 - 1),
    "imf-at-now": b"Wed, 18 Nov 2026 11:06:50 GMT" + u64(NOW_MS),
    "asctime-at-9999": b"Fri Dec 31 23:59:59 9999" + u64(253_402_300_799_000),
    "hints-at-now": b"1795000005\n\n\n" + u64(NOW_MS + 500),
}

# --- options: fuzz_targets/options.rs ------------------------------------------------------------
NAMES = ["maxAttempts", "baseDelayMs", "maxDelayMs", "multiplier", "jitter", "retryOn", "methods",
         "shouldRetry", "respectRetryAfter", "maxRetryAfterMs", "retryAfterJitter", "maxReplayBytes",
         "timeoutMs", "attemptTimeoutMs", "breaker", "budget", "pacer", "onRetry", "random", "fetch",
         "failureRatio", "minimumRequests", "windowMs", "openMs", "halfOpenProbes", "key", "capacity",
         "retryCost", "timeoutCost", "successRefund", "increase", "decrease", "seedRatio", "ratio"]
STRINGS = ["none", "full", "equal", "decorrelated", "Full", "ratio", "GET", "get", "post", "PATCH", "G T"]

# enum Name { Known(u8), Raw(Vec<u8>) }
def name(n): return tag(0, 2) + u8(NAMES.index(n))
def raw_name(b): return tag(1, 2) + vec([u8(c) for c in b])
# enum Val { Undefined, Null, Bool, Num, Str, List, Object, Function, Other }
V = 9
def undefined(): return tag(0, V)
def null(): return tag(1, V)
def bool_v(b): return tag(2, V) + boolean(b)
def num(x): return tag(3, V) + tag(2, 3) + f64bits(x)          # Num::Bits
def int_v(n): return tag(3, V) + tag(1, 3) + u16(n)            # Num::Int
def string(s): return tag(4, V) + tag(0, 2) + u8(STRINGS.index(s))  # Str::Known
def list_v(items): return tag(5, V) + vec(items)
def obj(fields): return tag(6, V) + vec([name(k) + v for k, v in fields])
def function(): return tag(7, V)


def options_input(defaults, per_call):
    return vec([name(k) + v for k, v in defaults]) + vec([name(k) + v for k, v in per_call])


OPTIONS_SEEDS = {
    "valid-all": options_input(
        [("fetch", function()), ("maxAttempts", int_v(5)), ("baseDelayMs", int_v(50)),
         ("jitter", obj([("ratio", num(0.2))])), ("methods", list_v([string("post")])),
         ("retryOn", list_v([int_v(503), int_v(429)])), ("respectRetryAfter", bool_v(True)),
         ("retryAfterJitter", num(0.5)), ("maxReplayBytes", int_v(0)), ("timeoutMs", undefined())],
        [("breaker", obj([("failureRatio", num(0.25)), ("openMs", int_v(5)), ("key", function())])),
         ("budget", obj([("capacity", int_v(10)), ("retryCost", int_v(1))])), ("onRetry", function())]),
    "breaker-off-then-on": options_input([("breaker", bool_v(False)), ("budget", bool_v(False))],
                                         [("breaker", obj([("windowMs", int_v(1000))])), ("budget", bool_v(True))]),
    "bad-max-attempts": options_input([("maxAttempts", num(0.0))], [("maxAttempts", num(2.5))]),
    "bad-nested": options_input([("breaker", obj([("failureRatio", num(0.0))]))],
                                [("budget", obj([("capacity", num(-5.0))]))]),
    "bad-jitter": options_input([("jitter", string("Full"))], [("jitter", obj([("ratio", num(1.5))]))]),
    "pacer": options_input([("pacer", bool_v(True))],
                           [("pacer", obj([("increase", num(1.5)), ("decrease", num(0.5)), ("seedRatio", num(2.0))]))]),
    "bad-pacer": options_input([("pacer", obj([("increase", num(0.5))]))], [("pacer", obj([("decrease", num(0.0))]))]),
    "fetch-per-call": options_input([], [("fetch", function())]),
    "unknown-key": options_input([], [("retryOn", list_v([int_v(99)]))]) + b"",
    "huge-integers": options_input([("maxAttempts", num(1e300)), ("maxReplayBytes", num(2.0**64))],
                                   [("budget", obj([("capacity", num(4294967296.0))]))]),
    "undefined-everywhere": options_input([("multiplier", undefined())],
                                          [("breaker", obj([("openMs", undefined())])), ("random", null())]),
}
OPTIONS_SEEDS["raw-key"] = vec([raw_name(b"__proto__") + obj([])]) + vec([])

# --- call: fuzz_targets/call.rs -----------------------------------------------------------------
# enum Ms { Small(u8), Medium(u16), Large(u32), Any(u64) }
def ms(v):
    if v < 256: return tag(0, 4) + u8(v)
    if v < 65536: return tag(1, 4) + u16(v)
    if v < 2**32: return tag(2, 4) + u32(v)
    return tag(3, 4) + u64(v)


def jitter(kind, ratio=0):  # enum FJitter { None, Full, Equal, Decorrelated, Ratio(u16) }
    k = ["none", "full", "equal", "decorrelated", "ratio"].index(kind)
    return tag(k, 5) + (u16(ratio) if kind == "ratio" else b"")


def breaker(ratio=127, minimum=4, window=1000, open_=500, probes=1):
    """failureRatio (ratio + 1) / 256, minimumRequests and halfOpenProbes as given."""
    return u8(ratio) + u8(minimum - 1) + ms(window) + ms(open_) + u8(probes - 1)


def budget(capacity=20, retry=5, timeout=10, refund=1):
    return u16(capacity) + u8(retry) + u8(timeout) + u8(refund)


def policy(attempts=3, base=100, max_delay=20000, mult=4, jit=None, retry_on=None, respect=True,
           max_ra=60000, ra_jitter=25, timeout=None, attempt_timeout=None, brk=None, bud=None, pacer=None):
    """Multiplier 2.0 (index 4 of the table), retryOn the default unless listed."""
    return (u8(attempts - 1) + ms(base) + ms(max_delay) + tag(0, 2) + u8(mult)
            + (jit or jitter("none"))
            + (tag(0, 2) if retry_on is None else tag(1, 2) + vec([u16(s - 100) for s in retry_on]))
            + boolean(respect) + ms(max_ra) + u8(ra_jitter)
            + option(None if timeout is None else ms(timeout))
            + option(None if attempt_timeout is None else ms(attempt_timeout))
            + option(brk) + option(bud) + option(pacer))


def pacer(increase=3, decrease=252, seed=47):
    """increase 1 + x/64, decrease (x + 1)/256, seedRatio (x + 1)/64: 1.05, 0.98, 0.75."""
    return u8(increase) + u8(decrease) + u8(seed)


OPS = 8  # enum Op { Start, Outcome, Resume, Decline, Abort, Advance, Back, Inspect }
def start(key=0, pol=0, repeatable=True): return tag(0, OPS) + u8(key) + u8(pol) + boolean(repeatable)
def status(s): return tag(1, 4) + u16(s)  # FOutcome::Status
NETWORK = tag(2, 4)
TIMEOUT = tag(3, 4)
HINT = 7  # enum Hint { Seconds, Imf, Rfc850, Asctime, RateLimit, Epoch, Raw }
def seconds(s): return tag(0, HINT) + u16(s)
def date(kind, offset): return tag(["imf", "rfc850", "asctime"].index(kind) + 1, HINT) + i32(offset)
def ratelimit(t): return tag(4, HINT) + u16(t)
def epoch(offset): return tag(5, HINT) + i32(offset)
def raw(b): return tag(6, HINT) + vec([u8(c) for c in b])
def hints(retry_after=None, reset=None, rl=None, x_reset=None):
    return option(retry_after) + option(reset) + option(rl) + option(x_reset)
def outcome(o, call=0, h=None, rnd=32768): return tag(1, OPS) + u8(call) + o + (h or hints()) + tag(0, 2) + u16(rnd)
def resume(call=0): return tag(2, OPS) + u8(call)
def decline(call=0): return tag(3, OPS) + u8(call)
def abort(call=0): return tag(4, OPS) + u8(call)
def advance(v): return tag(5, OPS) + ms(v)
def back(v): return tag(6, OPS) + ms(v)
def inspect(key=0, pol=0): return tag(7, OPS) + u8(key) + u8(pol)


def call_input(policies, ops, key_capacity=0, start_ms=NOW_MS):
    return u8(key_capacity) + ms(start_ms) + policies[0] + vec(policies[1:]) + vec(ops)


CALL_SEEDS = {
    # 503, 503, 200 with backoff: two retries.
    "retries-then-success": call_input([policy(attempts=3, bud=budget())], [
        start(), outcome(status(503)), advance(100), resume(), outcome(NETWORK), advance(400), resume(),
        outcome(status(200))]),
    # Retry-After in each form, and a RateLimit field.
    "retry-after-forms": call_input([policy(attempts=6, ra_jitter=255)], [
        start(), outcome(status(429), h=hints(retry_after=seconds(2))), advance(2000), resume(),
        outcome(status(503), h=hints(retry_after=date("imf", 3))), advance(3000), resume(),
        outcome(status(503), h=hints(retry_after=date("rfc850", 1))), advance(1000), resume(),
        outcome(status(503), h=hints(rl=ratelimit(1), x_reset=epoch(5))), advance(1000), resume(),
        outcome(status(503), h=hints(retry_after=date("asctime", -10), reset=raw(b"soon")))]),
    # A deadline: the attempt is cut by it, and a wait that would pass it is not started.
    "deadline": call_input([policy(attempts=6, timeout=1000, attempt_timeout=300)], [
        start(), outcome(TIMEOUT), advance(300), resume(), advance(700), outcome(TIMEOUT),
        start(), advance(900), outcome(status(503), h=hints(retry_after=seconds(1)))]),
    # The breaker opens, refuses, goes half-open, a probe fails, then one succeeds.
    "breaker-cycle": call_input([policy(attempts=1, brk=breaker(minimum=2, open_=500, probes=1))], [
        start(), outcome(NETWORK), start(), outcome(status(503)), start(0), inspect(),
        advance(500), start(), start(), outcome(NETWORK, call=4), advance(500), start(),
        outcome(status(200), call=6), inspect(), abort(5)]),
    # An empty budget stops retries; decline and abort give tokens back.
    "budget": call_input([policy(attempts=6, bud=budget(capacity=12, retry=5, timeout=10, refund=1))], [
        start(), outcome(status(503)), start(1), outcome(status(503), call=1), start(2),
        outcome(status(503), call=2), decline(0), abort(1), start(3), outcome(NETWORK, call=3),
        inspect(), outcome(status(200), call=3)]),
    # Two policies on one key, a small key capacity, time going backwards, driver mistakes.
    "mixed": call_input([policy(jit=jitter("decorrelated"), brk=breaker(), bud=budget()),
                         policy(attempts=10, jit=jitter("ratio", 9000), retry_on=[500, 418],
                                respect=False, bud=budget(capacity=3))], [
        start(0, 0), start(0, 1, False), start(1, 1), start(2, 0), outcome(status(418), call=1),
        resume(1), back(10_000), outcome(status(500), call=2), decline(2), resume(2),
        outcome(status(503), call=0), advance(10**12), resume(0), abort(0), abort(0)], key_capacity=2),
    # Three callers of one key with the pacer: a burst of failures is spread out.
    "pacer": call_input([policy(attempts=4, jit=jitter("full"), max_delay=2000, pacer=pacer())], [
        start(), start(), start(), advance(40), outcome(status(503), call=0), outcome(status(503), call=1),
        outcome(NETWORK, call=2), inspect(), advance(30), resume(0), advance(30), resume(1), resume(2),
        advance(40), outcome(status(200), call=0), outcome(status(503), call=1), decline(1)]),
}


def main():
    for name_, data in HEADER_SEEDS.items():
        write("headers", name_, data)
    for name_, data in OPTIONS_SEEDS.items():
        write("options", name_, data)
    for name_, data in CALL_SEEDS.items():
        write("call", name_, data)
    print(f"wrote {len(HEADER_SEEDS)} + {len(OPTIONS_SEEDS)} + {len(CALL_SEEDS)} seeds under {ROOT}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
