// Options objects as bytes for the core (the format is core::option_bytes'). Only reading
// happens here: which keys exist and what each value is. Every check of what a value may be
// is the core's. A getter or proxy that throws while being read is named here, since only JS
// can see it throw.

const MAX_LIST = 1024; // longer arrays are no option value anyone means
const MAX_DEPTH = 3; // options -> breaker -> its fields: nothing legitimate is deeper

const UNDEFINED = 0, NULL = 1, FALSE = 2, TRUE = 3, NUMBER = 4, STRING = 5, LIST = 6, OBJECT = 7, FUNCTION = 8, OTHER = 9;

const utf8 = new TextEncoder();
let bytes = new Uint8Array(256);
let view = new DataView(bytes.buffer);
let length = 0;

function room(n) {
  if (length + n <= bytes.length) return;
  const grown = new Uint8Array(Math.max(bytes.length * 2, length + n));
  grown.set(bytes.subarray(0, length));
  bytes = grown;
  view = new DataView(bytes.buffer);
}

function tag(t) {
  room(1);
  bytes[length++] = t;
}

function u32(n) {
  room(4);
  view.setUint32(length, n, true);
  length += 4;
}

function string(s) {
  room(4 + s.length * 3);
  // Option names and values are short and ASCII: copied by hand, which beats encodeInto's
  // call for a dozen characters; anything else goes through the encoder.
  let n = 0;
  if (s.length <= 32) {
    for (; n < s.length; n++) {
      const c = s.charCodeAt(n);
      if (c > 127) break;
      bytes[length + 4 + n] = c;
    }
  }
  if (n < s.length) n = utf8.encodeInto(s, bytes.subarray(length + 4)).written;
  view.setUint32(length, n, true);
  length += 4 + n;
}

function invalid(path, problem) {
  return new TypeError(`edge-retry: invalid option "${path}": ${problem}`);
}

// An object's own enumerable keys, as the encoding lists them.
export function keysOf(object, name) {
  try {
    return Object.keys(object);
  } catch {
    throw invalid(name, "reading its keys threw");
  }
}

export function read(object, key, path) {
  try {
    return object[key];
  } catch {
    throw invalid(path, "reading it threw");
  }
}

function value(v, path, depth) {
  if (v === undefined) return tag(UNDEFINED);
  if (v === null) return tag(NULL);
  switch (typeof v) {
    case "boolean":
      return tag(v ? TRUE : FALSE);
    case "number":
      tag(NUMBER);
      room(8);
      view.setFloat64(length, v, true);
      length += 8;
      return;
    case "string":
      tag(STRING);
      return string(v);
    case "function":
      return tag(FUNCTION);
    case "object":
      break;
    default:
      return tag(OTHER);
  }
  if (depth >= MAX_DEPTH) return tag(OTHER);
  if (Array.isArray(v)) {
    const n = read(v, "length", path);
    if (!(n >= 0 && n <= MAX_LIST)) return tag(OTHER);
    tag(LIST);
    u32(n);
    for (let i = 0; i < n; i++) value(read(v, i, path), path, depth + 1);
    return;
  }
  fields(v, path, path, depth + 1);
}

// The top-level fields of the options last encoded as [key, value, ...] when each value is
// a primitive or a function (a function as FUNCTION_MARK: the bytes say only "a function"),
// else null. kept-options.js matches later options against it without encoding them.
export let flat = null;
export const FUNCTION_MARK = Symbol("a function");

function isFlatValue(v) {
  return v === null || (typeof v !== "object" && typeof v !== "symbol" && typeof v !== "bigint");
}

function fields(object, path, name, depth) {
  const keys = keysOf(object, name);
  tag(OBJECT);
  u32(keys.length);
  for (const key of keys) {
    const child = path ? `${path}.${key}` : key;
    string(key);
    const v = read(object, key, child);
    if (depth === 0 && flat !== null) {
      if (isFlatValue(v)) flat.push(key, typeof v === "function" ? FUNCTION_MARK : v);
      else flat = null;
    }
    value(v, child, depth);
  }
}

// `options` (init.retry, or createRetryFetch's defaults, named `name` in errors) as bytes. The
// returned view is reused by the next call: hand it to the core at once.
export function encodeOptions(options, name) {
  length = 0;
  if (options !== null && typeof options === "object" && !Array.isArray(options)) {
    flat = [];
    fields(options, "", name, 0);
  } else {
    flat = null;
    value(options, name, 0);
  }
  return bytes.subarray(0, length);
}
