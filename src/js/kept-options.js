// Per-call options (`init.retry`) opened through the core, which checks each distinct set
// once. Code that writes its options inline makes a fresh object for every call, alike each
// time: the last few sets are kept here, beside the place where the core keeps the policy it
// checked for them, and such a call opens with that place (one number) instead of bytes for
// the core to take and check again.
//
// Options whose fields are all primitives or functions (most inline options) are matched
// field by field, without encoding them; any other is encoded and matched by its bytes.
import { encodeOptions, keysOf, flat, read, FUNCTION_MARK } from "./encode.js";
import { REFUSED, KEPT_PLACES as PLACES } from "./codes.js";

function sameBytes(a, b) {
  if (a === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Whether `options` has the fields `flat` lists (encode.js's form), in the same order, with
// the same values: what makes its bytes the same, read the way the encoder reads them.
function sameFields(options, keys, fields) {
  if (fields === null || fields.length !== keys.length * 2) return false;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key !== fields[2 * i]) return false;
    const v = read(options, key, key);
    const kept = fields[2 * i + 1];
    if (typeof v === "function" ? kept !== FUNCTION_MARK : !Object.is(v, kept)) return false;
  }
  return true;
}

// A function that opens a call with `retry` (not undefined) in `instance`: its slot id, or
// REFUSED with the instance's error text naming the option.
export function keptOptions(instance) {
  const bytesAt = new Array(PLACES).fill(null); // the bytes whose policy the core keeps at each place
  const fieldsAt = new Array(PLACES).fill(null); // and their flat fields, if they are flat
  let next = 0; // the place the next new set takes: the oldest, once all are used
  // (Places fill from 0: code with one set of options finds it at the first place it looks.)
  return (retry) => {
    if (retry !== null && typeof retry === "object" && !Array.isArray(retry)) {
      const keys = keysOf(retry, "retry");
      for (let place = 0; place < PLACES; place++) if (sameFields(retry, keys, fieldsAt[place])) return instance.openAt(place);
    }
    const bytes = encodeOptions(retry, "retry");
    for (let place = 0; place < PLACES; place++) if (sameBytes(bytesAt[place], bytes)) return instance.openAt(place);
    const id = instance.open(bytes, next);
    if (id !== REFUSED) {
      // The core kept the policy at `next` (a refusal keeps nothing anywhere).
      bytesAt[next] = bytes.slice();
      fieldsAt[next] = flat; // of the options just encoded
      next = (next + 1) % PLACES;
    }
    return id;
  };
}
