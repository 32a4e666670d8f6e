// Where a wasm module's bytes go: code size per function (largest first), grouped by the
// Rust module path of its (demangled-ish) name. Reads the `name` custom section, so point it
// at a build that keeps names (target/wasm32-unknown-unknown/release/edge_retry.wasm).
//   node scripts/wasm-sizes.mjs <file.wasm> [top=40]
import fs from "node:fs";

const bytes = fs.readFileSync(process.argv[2]);
const top = Number(process.argv[3] ?? 40);
let pos = 8;
const leb = () => {
  let result = 0, shift = 0, b;
  do { b = bytes[pos++]; result += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
  return result;
};
let imports = 0;
const bodies = [];
const names = new Map();
const sections = [];
while (pos < bytes.length) {
  const id = bytes[pos++];
  const size = leb();
  const end = pos + size;
  sections.push([id, size]);
  if (id === 2) {
    const n = leb();
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 2; k++) { const len = leb(); pos += len; } // module, field (read the length before moving on)
      const kind = bytes[pos++];
      if (kind === 0) { leb(); imports++; } else if (kind === 1) { pos++; const f = leb(); leb(); if (f & 1) leb(); }
      else if (kind === 2) { const f = leb(); leb(); if (f & 1) leb(); } else { pos += 2; }
    }
  } else if (id === 10) {
    const n = leb();
    for (let i = 0; i < n; i++) { const s = leb(); bodies.push(s); pos += s; }
  } else if (id === 0) {
    const nameLen = leb();
    const name = bytes.subarray(pos, pos + nameLen).toString();
    pos += nameLen;
    if (name === "name") {
      while (pos < end) {
        const sub = bytes[pos++]; const subSize = leb(); const subEnd = pos + subSize;
        if (sub === 1) {
          const n = leb();
          for (let i = 0; i < n; i++) { const idx = leb(); const l = leb(); names.set(idx, bytes.subarray(pos, pos + l).toString()); pos += l; }
        }
        pos = subEnd;
      }
    }
  }
  pos = end;
}
const rows = bodies.map((size, i) => ({ size, name: names.get(i + imports) ?? `func${i + imports}` }));
rows.sort((a, b) => b.size - a.size);
const total = bodies.reduce((a, b) => a + b, 0);
console.log(`sections: ${sections.map(([id, s]) => `${id}:${s}`).join(" ")}; code ${total} bytes in ${bodies.length} functions`);
for (const r of rows.slice(0, top)) console.log(String(r.size).padStart(7), r.name.slice(0, 150));
const groups = new Map();
for (const r of rows) {
  const m = r.name.match(/edge_retry[^:]*::([a-z_]+)(?:::([a-z_]+))?/);
  const g = m ? m.slice(1).filter(Boolean).join("::") : r.name.includes("core::fmt") ? "core::fmt" : r.name.startsWith("func") ? "(unnamed)" : r.name.split("::")[0].replace(/^_?ZN?\d*/, "").slice(0, 30);
  groups.set(g, (groups.get(g) ?? 0) + r.size);
}
console.log("\nby module:");
for (const [g, s] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(String(s).padStart(7), g);
