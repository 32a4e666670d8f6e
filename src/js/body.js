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

// Reads a stream body into a replay buffer of at most `max` bytes. Resolves with
// [true, Uint8Array] when the whole body fits, or [false, ReadableStream] that sends what was
// read and then the rest, once. Rejects with the stream's own error, or with `stop`'s reason
// (the caller's abort, the call's deadline) as soon as that promise rejects.
export async function bufferBody(stream, max, stop) {
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  const read = stop
    ? () => Promise.race([reader.read(), stop]).catch((reason) => {
        reader.cancel(reason).catch(() => {});
        throw reason;
      })
    : () => reader.read();
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
          if (i < chunks.length) return controller.enqueue(chunks[i++]);
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(chunkBytes(next.value));
        },
        cancel(reason) {
          return reader.cancel(reason);
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

// The request's stream body, if it has one: a ReadableStream in init.body, or the body of a
// Request input when init gives none. Other body types can be sent again as they are.
export function streamBody(input, init) {
  const body = init ? init.body : undefined;
  if (body != null) return body instanceof ReadableStream ? body : undefined;
  if (input instanceof Request && input.body) return input.body;
  return undefined;
}

// Releases a discarded response's connection. Errors here are of no interest to the caller.
export function cancelBody(response) {
  if (response.body) response.body.cancel().catch(() => {});
}

