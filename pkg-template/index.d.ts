// Types for edge-retry. Hand-written: every option is documented here, with its default.

/** What a retry is for, as `onRetry` reports it. */
export type RetryReason = "status" | "network" | "timeout";

/** How each backoff wait is randomised. `step = min(maxDelayMs, baseDelayMs * multiplier^(n-1))`. */
export type Jitter =
  /** wait exactly `step` */
  | "none"
  /** uniform in [0, step] (the default; AWS's "full jitter") */
  | "full"
  /** step/2 + uniform in [0, step/2] */
  | "equal"
  /** min(maxDelayMs, uniform in [baseDelayMs, previous * 3]) */
  | "decorrelated"
  /** uniform in [step*(1-ratio), step*(1+ratio)], then capped; 0 < ratio <= 1 */
  | { ratio: number };

export interface RetryContext {
  /** Number (from 1) of the attempt that just failed. */
  attempt: number;
  /** The response, when the attempt got one (its body can still be read here). */
  response?: Response;
  /** The network error or the attempt's TimeoutError, when there was no response. */
  error?: unknown;
  /** The wait that will be made before the next attempt. */
  delayMs: number;
}

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  reason: RetryReason;
  status?: number;
  error?: unknown;
  url: string;
}

export interface BreakerOptions {
  /** Failures ÷ outcomes in the window at which the breaker opens, in (0, 1]. Default 0.9. */
  failureRatio?: number;
  /** Outcomes needed in the window before the ratio counts. Default 10. */
  minimumRequests?: number;
  /** Length of the sliding window. Default 30000. */
  windowMs?: number;
  /** How long it stays open before letting probes through. Default 10. */
  openMs?: number;
  /** Longest open period: each failed probe doubles the period, from openMs up to this
   *  (never below openMs). Default 10 (no growth). */
  maxOpenMs?: number;
  /** Attempts let through at once while half-open, each a probe: the first success closes
   *  it, a failure reopens it. Default 1000 (SPEC 5's single probe is 1). */
  halfOpenProbes?: number;
  /** Which breaker a URL belongs to. Default: the URL's origin. */
  key?: (url: string) => string;
}

export interface BudgetOptions {
  /** Tokens in a full bucket (one bucket per breaker key). Default 500. */
  capacity?: number;
  /** Tokens a retry after a retryable status takes. Default 5. */
  retryCost?: number;
  /** Tokens a retry after a network error or attempt timeout takes. Default 10. */
  timeoutCost?: number;
  /** Tokens each success gives back (never above capacity). Default 1. */
  successRefund?: number;
}

export interface RetryCapOptions {
  /** Retries allowed per call of the key over the window, in [0, 1]. Default 0.1. */
  ratio?: number;
  /** Length of the sliding window. Default 10000. */
  windowMs?: number;
  /** Calls needed in the window before the cap binds. Default 100. */
  minimumCalls?: number;
}

export interface PacerOptions {
  /** Factor the shared retry interval grows by after a failure (once per round), >= 1. Default 1.05. */
  increase?: number;
  /** Factor it shrinks by after a success, in (0, 1]. Default 0.99. */
  decrease?: number;
  /** The interval after an idle spell, as a multiple of the smoothed attempt time, > 0. Default 0.75. */
  seedRatio?: number;
}

export interface RetryOptions {
  /** Attempts in all, the first included; integer >= 1. Default 3. */
  maxAttempts?: number;
  /** First backoff step, ms. Default 100. */
  baseDelayMs?: number;
  /** Cap on any single backoff wait, ms. Default 20000. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  multiplier?: number;
  /** Default "full". */
  jitter?: Jitter;
  /** Statuses that are retried. Default [408, 429, 500, 502, 503, 504]. */
  retryOn?: number[];
  /** Methods retried; others (POST, PATCH) only with an Idempotency-Key header.
   *  Default ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]. */
  methods?: string[];
  /** Asked before each retry the rules allow. Only `false` stops (settling with that outcome);
   *  `true`, `undefined` or anything else leaves the decision to the rules, as in ky. */
  shouldRetry?: (ctx: RetryContext) => boolean | undefined | void | Promise<boolean | undefined | void>;
  /** Wait what Retry-After / RateLimit headers ask instead of the backoff. Default true. */
  respectRetryAfter?: boolean;
  /** A server asking for longer than this gets no retry: its response is returned. Default 60000. */
  maxRetryAfterMs?: number;
  /** A server-given wait is lengthened by uniform [0, ratio] of itself. In [0, 1]. Default 0.1. */
  retryAfterJitter?: number;
  /** Bytes of a stream body kept for replay; a longer stream is sent once. Default 1048576. */
  maxReplayBytes?: number;
  /** Deadline for the whole call, waits included, ms. Default none. */
  timeoutMs?: number;
  /** Per-attempt timeout, ms; a timed-out attempt is retried like a network error. Default none. */
  attemptTimeoutMs?: number;
  /** Circuit breaker settings, or false to turn it off. Default on. */
  breaker?: BreakerOptions | boolean;
  /** Retry budget settings, or false to turn it off. Default on. */
  budget?: BudgetOptions | boolean;
  /** A busy key's retries at most `ratio` of its calls over `windowMs` (denials count in
   *  budgetDenials), or false. On by default with the default budget; options that set
   *  `budget` without `retryCap` turn it off, so explicit budget settings mean what they say. */
  retryCap?: RetryCapOptions | boolean;
  /** Adaptive retry pacing shared by every caller of the same key in the isolate: each retry
   *  also waits for the key's next free slot, an interval that grows on failures and shrinks on
   *  successes. Off by default (an extension beyond the contract); true for the defaults. */
  pacer?: PacerOptions | boolean;
  /** Hedged requests (SPEC 9), or false. Off by default; true for { delayMs: "auto", maxHedges: 1 }. */
  hedge?: HedgeOptions | boolean;
  /** Called before each wait. */
  onRetry?: (event: RetryEvent) => void;
  /** Called after every attempt settles (per call too). Whatever it throws is dropped. */
  onAttempt?: (event: AttemptEvent) => void;
  /** Random numbers in [0, 1) for jitter (for reproducible tests). Default: a generator seeded
   *  from crypto.getRandomValues. */
  random?: () => number;
}

export interface HedgeOptions {
  /** When the first attempt has had no answer after this long (ms), another copy is sent
   *  alongside. "auto": the key's recent p95 attempt latency (at least 10 ms; no hedge before
   *  the key has 20 latencies). Default "auto". */
  delayMs?: number | "auto";
  /** Extra copies at most, 1 to 3. Default 1. Hedges count as attempts and pay retryCost. */
  maxHedges?: number;
}

export interface AttemptEvent {
  /** The breaker key (the URL's origin by default). */
  key: string;
  url: string;
  /** Number of the attempt, from 1. */
  attempt: number;
  /** Whether it was a hedge (SPEC 9). An attempt that lost to another (aborted) is not reported. */
  hedge: boolean;
  status?: number;
  error?: unknown;
  durationMs: number;
}

export interface BreakerEvent {
  key: string;
  state: "open" | "half-open" | "closed";
  /** ms since the epoch. Half-open is reported when the next call finds the open period over. */
  at: number;
}

export interface StormOptions {
  /** A storm is when retries are more than this share of a key's attempts. In [0, 1]. Default 0.1. */
  ratio?: number;
  /** Over this window, ms. Default 10000. */
  windowMs?: number;
  /** With at least this many attempts in the window. Default 20. */
  minimumAttempts?: number;
}

export interface StormEvent {
  key: string;
  /** "storm" once entering; "calm" once leaving (retries at half the ratio or less). */
  state: "storm" | "calm";
  retryRatio: number;
  attempts: number;
  windowMs: number;
  /** ms since the epoch. */
  at: number;
}

/** Options only an instance takes (`createRetryFetch`). */
export interface InstanceOptions {
  fetch?: typeof fetch;
  /** Every change of state of a key's breaker. Whatever it throws is dropped. */
  onBreaker?: (event: BreakerEvent) => void;
  /** Retry-storm detection per key, or false. Default { ratio: 0.1, windowMs: 10000, minimumAttempts: 20 }. */
  storm?: StormOptions | boolean;
  /** Once when a key enters a storm, once when it leaves. Whatever it throws is dropped. */
  onStorm?: (event: StormEvent) => void;
}

export interface RetryInit extends RequestInit {
  /** Per-call options (override the instance's defaults field by field), or false for a single attempt. */
  retry?: RetryOptions | false;
}

export interface RetryStats {
  calls: number;
  /** Requests sent (first attempts, retries and hedges). */
  attempts: number;
  retries: number;
  /** Calls that resolved with a response whose status is < 500 and not in retryOn. */
  successes: number;
  /** All other calls (calls = successes + failures); breaker rejections included. */
  failures: number;
  breakerRejections: number;
  budgetDenials: number;
  /** Retries whose wait came from Retry-After or a RateLimit header. */
  retryAfterWaits: number;
  /** Times a key entered a retry storm. */
  storms: number;
  /** Hedged attempts sent (they count in attempts too, not in retries). */
  hedges: number;
  /** Per call, waits included. */
  latencyMs: { p50: number; p90: number; p99: number };
}

export interface BreakerState {
  state: "closed" | "open" | "half-open";
  /** Failures and successes in the current window. */
  failures: number;
  successes: number;
  /** When it last opened (ms since the epoch). */
  openedAt?: number;
}

export interface RetryFetch {
  (input: RequestInfo | URL, init?: RetryInit): Promise<Response>;
  stats(): RetryStats;
  breaker(key: string): BreakerState;
}

/** Thrown (as a rejection) when a call is refused by an open breaker. No request was sent. */
export class CircuitOpenError extends Error {
  readonly name: "CircuitOpenError";
  readonly key: string;
  readonly retryAfterMs: number;
}

/** The default instance: one set of breakers, budgets and stats for the isolate. */
export const retryFetch: RetryFetch;
export default retryFetch;

/** A new instance with its own breakers, budgets and stats. Throws a TypeError on invalid defaults. */
export function createRetryFetch(defaults?: RetryOptions & InstanceOptions): RetryFetch;

type Preset = Readonly<Pick<RetryOptions, "maxAttempts" | "baseDelayMs" | "maxDelayMs" | "jitter">>;

/** Service profiles: `retryFetch(url, { retry: presets.apiGateway })`, or spread and override. */
export const presets: Readonly<{
  database: Preset;
  fileUpload: Preset;
  apiGateway: Preset;
  messageQueue: Preset;
  mlTraining: Preset;
  videoProcessing: Preset;
  awsStandard: Preset;
}>;
