// The numbers of the wasm Instance's dispatchers (src/js/exports.rs): `get(what, n)`,
// `act(op, id, now)`, `set(what, a, b)`, `setText(which, s)` and `text(which)`. One export
// for many: each export costs the module a wrapper and this glue a method.
export const GET_PARAM = 0, GET_ATTEMPT = 1, GET_REASON = 2, GET_REPLAY_LIMIT = 3, GET_TIMEOUT_MS = 4;
export const GET_HEDGE_AFTER = 5, GET_STAT = 6, GET_BREAKER = 7, GET_EVENT = 8, GET_FLEET_SETTING = 9;
export const ACT_RESUME = 0, ACT_DECLINE = 1, ACT_ABORT = 2, ACT_HEDGE = 3;
export const SET_SEED = 0, SET_LISTEN = 1, SET_ANSWERED = 2;
export const TEXT_KEY = 0, TEXT_METHOD = 1, TEXT_ERROR = 0, TEXT_EVENT_KEY = 1;

// The action codes the Instance answers with (src/js/exports.rs's header): SEND has no
// timeout; SEND_TIMED has one, which GET_PARAM gives.
export const SEND = 0, RETRY = 1, SETTLE_LAST = 2, SETTLE_DEADLINE = 3, SETTLE_CIRCUIT_OPEN = 4;
export const SEND_HEDGED = 7, PENDING = 8, SEND_TIMED = 10, MISUSE = 6;
// `start` may answer SEND_LEASED: SEND, and a lease on the call's key with its options (see
// driver.js's `run`); SEND_LEASED_TIMED: SEND_TIMED, and a lease whose calls are each cut
// after that timeout. `response` takes LEASED + the options' place for a call sent under one.
export const SEND_LEASED = 11, SEND_LEASED_TIMED = 12, LEASED = 0x80000000;
// `start`'s flags: Idempotency-Key; a body that can be sent again; sent already, under a lease.
export const START_IDEMPOTENCY_KEY = 1, START_REPLAYABLE = 2, START_ADMITTED = 4;
export const isSend = (action) => action === SEND || action === SEND_TIMED;
// `open` and `openAt`: the slot id for options refused; the places the core keeps checked
// per-call policies at (RECENT_OPTIONS), and openAt's place for the instance's defaults.
// UNKEPT: `open`'s place for options kept nowhere (kept-options.js).
export const REFUSED = 0xffffffff, KEPT_PLACES = 8, DEFAULTS_PLACE = 8, UNKEPT = 9;
