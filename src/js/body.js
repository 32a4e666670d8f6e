// Request bodies that can be sent more than once, and discarded response bodies.

const encoder = new TextEncoder();

// A stream chunk as bytes: typed arrays and DataViews by their own bytes, ArrayBuffers whole,
// strings as UTF-8 (as Node's fetch sends them). Anything else cannot be a body.
function chunkBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (typeof value === "string") return encoder.encode(value);
  throw new TypeError("edge-retry: a request body stream gave a chunk that is neither bytes nor a string");
}

// Reads a body stream (a ReadableStream or any async iterable of chunks: an async generator,
// a Node Readable) into a replay buffer of at most `max` bytes. Resolves with
// [true, Uint8Array] when the whole body fits, or [false, ReadableStream] that sends what was
// read and then the rest, once. Rejects with the stream's own error, or with `stop`'s reason
// (the caller's abort, the call's deadline) as soon as that promise rejects.
export async function bufferBody(stream, max, stop) {
  const source = chunkSource(stream);
  const chunks = [];
  let size = 0;
  const read = stop
    ? () => Promise.race([source.next(), stop]).catch((reason) => {
        source.cancel(reason);
        throw reason;
      })
    : () => source.next();
  for (;;) {
    const { done, value } = await read();
    if (done) break;
    const chunk = chunkBytes(value);
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size > max) {
      let i = 0;
      return [false, new ReadableStream({
        async pull(controller) {
          if (i < chunks.length) {
            controller.enqueue(chunks[i]);
            chunks[i++] = undefined; // sent once: let it go
            return;
          }
          const next = await source.next();
          if (next.done) controller.close();
          else controller.enqueue(chunkBytes(next.value));
        },
        cancel(reason) {
          return source.cancel(reason);
        },
      })];
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return [true, bytes];
}

// next() and cancel() over a ReadableStream's reader or an async iterator.
function chunkSource(stream) {
  if (stream instanceof ReadableStream) {
    const reader = stream.getReader();
    return { next: () => reader.read(), cancel: (reason) => reader.cancel(reason).catch(() => {}) };
  }
  const iterator = stream[Symbol.asyncIterator]();
  return {
    next: () => iterator.next(),
    cancel: (reason) => {
      if (typeof iterator.return === "function") Promise.resolve().then(() => iterator.return(reason)).catch(() => {});
      if (typeof stream.destroy === "function") stream.destroy();
    },
  };
}

// Bodies that are read once as they are sent: web streams and async iterables (Node's fetch
// sends an async generator or a Readable with duplex: "half"). Strings, buffers, Blobs,
// FormData and URLSearchParams can be sent again as they are.
function isStream(body) {
  if (body instanceof ReadableStream) return true;
  if (body === null || typeof body !== "object") return false;
  return typeof body[Symbol.asyncIterator] === "function";
}

// The request's stream body, if it has one: in init.body, or the body of a Request-like input
// when init gives none.
export function streamBody(input, init, request) {
  const body = init ? init.body : undefined;
  if (body != null) return isStream(body) ? body : undefined;
  const own = request ? request.body : undefined;
  return isStream(own) ? own : undefined;
}

// Releases a discarded response's connection: a web stream is cancelled, a Node stream
// (node-fetch's bodies) destroyed. Errors here are of no interest to the caller.
export function cancelBody(response) {
  let body;
  try {
    body = response.body;
  } catch {
    return;
  }
  if (body === null || typeof body !== "object") return;
  try {
    if (typeof body.cancel === "function") Promise.resolve(body.cancel()).catch(() => {});
    else if (typeof body.destroy === "function") body.destroy();
  } catch {
    // A locked stream (the caller's shouldRetry still reading it) throws; nothing to release.
  }
}
