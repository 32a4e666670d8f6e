// A small raw-DEFLATE decoder (RFC 1951), so the inlined wasm can ship compressed and still be
// instantiated synchronously. Base64 of the raw module compresses badly on the wire (gzip gets
// it to about 1.36x the module's own gzip size); base64 of the deflated module costs about 1x.
// DecompressionStream would do the work, but only asynchronously, which would need a
// top-level await or an init call. Trusted input only: it decodes what build-pkg.sh made.

// Lengths and distances: base values and extra bits, symbols 257..285 and 0..29 (RFC 1951
// 3.2.5), computed: each base is the last plus the range its extra bits cover.
const LENGTH_BASE = [], LENGTH_EXTRA = [], DIST_BASE = [], DIST_EXTRA = [];
for (let i = 0, base = 3; i < 29; i++) {
  const extra = i < 8 || i > 27 ? 0 : (i >> 2) - 1;
  LENGTH_EXTRA.push(extra);
  LENGTH_BASE.push(i === 28 ? 258 : base);
  base += 1 << extra;
}
for (let i = 0, base = 1; i < 30; i++) {
  const extra = i < 4 ? 0 : (i >> 1) - 1;
  DIST_EXTRA.push(extra);
  DIST_BASE.push(base);
  base += 1 << extra;
}
// The order in which a dynamic block gives the code lengths of the code-length alphabet.
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

// A canonical Huffman code from its code lengths, as a lookup table indexed by the next `bits`
// input bits (which arrive least significant first): each entry is symbol << 4 | code length.
function huffman(lengths) {
  let bits = 1;
  const counts = new Uint16Array(16);
  for (const n of lengths) {
    counts[n]++;
    if (n > bits) bits = n;
  }
  counts[0] = 0;
  const next = new Uint16Array(16);
  for (let n = 1, code = 0; n < 16; n++) {
    code = (code + counts[n - 1]) << 1;
    next[n] = code;
  }
  const table = new Uint16Array(1 << bits);
  lengths.forEach((n, symbol) => {
    if (!n) return;
    let code = next[n]++;
    let reversed = 0;
    for (let i = 0; i < n; i++, code >>= 1) reversed = (reversed << 1) | (code & 1);
    for (let k = reversed; k < table.length; k += 1 << n) table[k] = (symbol << 4) | n;
  });
  return { table, mask: (1 << bits) - 1 };
}

export function inflate(input, size) {
  const out = new Uint8Array(size);
  let at = 0; // bytes written
  let pos = 0; // input byte
  let bitBuf = 0;
  let bitCount = 0;

  const fill = (n) => {
    while (bitCount < n) {
      bitBuf |= (input[pos++] | 0) << bitCount;
      bitCount += 8;
    }
  };
  const bits = (n) => {
    fill(n);
    const value = bitBuf & ((1 << n) - 1);
    bitBuf >>>= n;
    bitCount -= n;
    return value;
  };
  const decode = ({ table, mask }) => {
    fill(16);
    const entry = table[bitBuf & mask];
    const n = entry & 15;
    if (!n) throw new Error("edge-retry: the inlined module is corrupt");
    bitBuf >>>= n;
    bitCount -= n;
    return entry >> 4;
  };

  for (let last = 0; !last; ) {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      // Stored: byte-aligned LEN, NLEN, then LEN bytes.
      bitBuf = bitCount = 0;
      const len = input[pos] | (input[pos + 1] << 8);
      pos += 4;
      out.set(input.subarray(pos, pos + len), at);
      pos += len;
      at += len;
      continue;
    }
    let lit, dist;
    if (type === 3) throw new Error("edge-retry: the inlined module is corrupt");
    if (type === 1) {
      const lengths = new Uint8Array(288).fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280);
      lit = huffman(lengths);
      dist = huffman(new Uint8Array(30).fill(5));
    } else {
      const nlit = bits(5) + 257, ndist = bits(5) + 1, nclen = bits(4) + 4;
      const clen = new Uint8Array(19);
      for (let i = 0; i < nclen; i++) clen[CLEN_ORDER[i]] = bits(3);
      const clenCode = huffman(clen);
      const lengths = new Uint8Array(nlit + ndist);
      for (let i = 0; i < nlit + ndist; ) {
        const symbol = decode(clenCode);
        if (symbol < 16) lengths[i++] = symbol;
        else {
          const [repeat, value] = symbol === 16 ? [3 + bits(2), lengths[i - 1]] : symbol === 17 ? [3 + bits(3), 0] : [11 + bits(7), 0];
          lengths.fill(value, i, i + repeat);
          i += repeat;
        }
      }
      lit = huffman(lengths.subarray(0, nlit));
      dist = huffman(lengths.subarray(nlit));
    }
    // The hot loop, with the bit reading written out: run once per page load, it is mostly
    // interpreted, where every call costs.
    const litTable = lit.table, litMask = lit.mask, distTable = dist.table, distMask = dist.mask;
    for (;;) {
      while (bitCount < 16) {
        bitBuf |= (input[pos++] | 0) << bitCount;
        bitCount += 8;
      }
      let entry = litTable[bitBuf & litMask];
      let n = entry & 15;
      // No code (a corrupt table) or more output than announced: stop rather than loop.
      if (!n || at > size) throw new Error("edge-retry: the inlined module is corrupt");
      bitBuf >>>= n;
      bitCount -= n;
      const symbol = entry >> 4;
      if (symbol < 256) {
        out[at++] = symbol;
        continue;
      }
      if (symbol === 256) break;
      const s = symbol - 257;
      let length = LENGTH_BASE[s];
      n = LENGTH_EXTRA[s];
      if (n) {
        while (bitCount < 16) {
          bitBuf |= (input[pos++] | 0) << bitCount;
          bitCount += 8;
        }
        length += bitBuf & ((1 << n) - 1);
        bitBuf >>>= n;
        bitCount -= n;
      }
      while (bitCount < 16) {
        bitBuf |= (input[pos++] | 0) << bitCount;
        bitCount += 8;
      }
      entry = distTable[bitBuf & distMask];
      n = entry & 15;
      bitBuf >>>= n;
      bitCount -= n;
      const d = entry >> 4;
      if (!(entry & 15)) throw new Error("edge-retry: the inlined module is corrupt");
      n = DIST_EXTRA[d];
      while (bitCount < n) {
        bitBuf |= (input[pos++] | 0) << bitCount;
        bitCount += 8;
      }
      const from = at - DIST_BASE[d] - (bitBuf & ((1 << n) - 1));
      bitBuf >>>= n;
      bitCount -= n;
      if (from < 0) throw new Error("edge-retry: the inlined module is corrupt");
      out.copyWithin(at, from, from + length);
      if (from + length > at) for (let i = at - from; i < length; i++) out[at + i] = out[from + i];
      at += length;
    }
  }
  return out;
}
