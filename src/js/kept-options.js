// Per-call options (`init.retry`) opened through the core, which checks each distinct set
// once. Code that writes its options inline makes a fresh object for every call, alike each
// time: the last few sets are kept here, beside the place where the core keeps the policy it
// checked for them, and such a call opens with that place (one number) instead of bytes for
// the core to take and check again.
//
// Options whose fields are all primitives or functions (most inline options) are matched
// field by field, without encoding them; any other is encoded and matched by its bytes.
import { encodeOptions, keysOf, flat, read, FUNCTION_MARK } from "./encode.js";
import { REFUSED, KEPT_PLACES as PLACES, UNKEPT } from "./codes.js";

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

// The places of `instance`'s per-call options. `placeOf(retry)` (not undefined) gives the
// place whose policy the core checked for options like `retry`, checking and keeping them
// there if new (REFUSED, with the instance's error text naming the option, if refused);
// `open(place)` opens a call there (a slot id). `claim(place)`: whether new options may take
// a place (not while calls sent under a lease of its policy are out; driver.js).
export function keptOptions(instance, claim) {
  const bytesAt = new Array(PLACES).fill(null); // the bytes whose policy the core keeps at each place
  const fieldsAt = new Array(PLACES).fill(null); // and their flat fields, if they are flat
  let next = 0; // the place the next new set takes: the oldest, once all are used
  let unkept = null; // the bytes of the last options no place could take (UNKEPT)
  // (Places fill from 0: code with one set of options finds it at the first place it looks.)
  const placeOf = (retry) => {
    if (retry !== null && typeof retry === "object" && !Array.isArray(retry)) {
      const keys = keysOf(retry, "retry");
      for (let place = 0; place < PLACES; place++) if (sameFields(retry, keys, fieldsAt[place])) return place;
    }
    const bytes = encodeOptions(retry, "retry");
    for (let place = 0; place < PLACES; place++) if (sameBytes(bytesAt[place], bytes)) return place;
    // The oldest place that may take them (none while every place's policy is in use).
    let place = UNKEPT;
    for (let i = 0; i < PLACES && place === UNKEPT; i++) {
      const candidate = (next + i) % PLACES;
      if (claim(candidate)) place = candidate;
    }
    // `open` checks the options and keeps their policy at the place; the call itself opens
    // at that place (a call is opened where its options are, whatever they are).
    const id = instance.open(bytes, place);
    if (id === REFUSED) return REFUSED; // a refusal keeps nothing anywhere
    instance.close(id, 0);
    if (place === UNKEPT) {
      unkept = bytes.slice();
    } else {
      bytesAt[place] = bytes.slice();
      fieldsAt[place] = flat; // of the options just encoded
      next = (place + 1) % PLACES;
    }
    return place;
  };
  const open = (place) => (place === UNKEPT ? instance.open(unkept, UNKEPT) : instance.openAt(place));
  return { placeOf, open };
}
