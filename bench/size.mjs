// Size: edge-retry's wasm and JS glue (raw, gzip -9, brotli q11) beside each peer's minified
// bundle, and what takes the wasm's bytes (twiggy on a build with names kept).
//
//   node bench/size.mjs           tables + twiggy breakdown (builds the wasm with names: ~1 min)
//   node bench/size.mjs --quick   tables only, no cargo build (checks that it runs)
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { build } from "esbuild";
import { buildNamedWasm, flag, PKG, ROOT, saveResult, table, version } from "./lib.mjs";

const QUICK = flag("--quick");
const TMP = resolve(ROOT, "target/bench-size");
rmSync(TMP, { recursive: true, force: true });
mkdirSync(TMP, { recursive: true });

const gz = (b) => gzipSync(b, { level: 9 }).length;
const br = (b) =>
  brotliCompressSync(b, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: b.length,
    },
  }).length;
const kb = (n) => (n / 1024).toFixed(1);
const sizes = (bytes) => ({ raw: bytes.length, gzip: gz(bytes), brotli: br(bytes) });
const row = (name, s, note = "") => [name, kb(s.raw), kb(s.gzip), kb(s.brotli), note];

async function bundle(name, source, extra = {}) {
  const entry = join(TMP, `${name}.entry.mjs`);
  writeFileSync(entry, source + "\n");
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "error",
    nodePaths: [resolve(ROOT, "node_modules")],
    ...extra,
  });
  return Buffer.from(result.outputFiles[0].contents);
}

// --- edge-retry itself ---
const wasm = readFileSync(join(PKG, "edge_retry_bg.wasm"));
// The workerd entry is one bundled, minified module with the wasm-bindgen glue inside.
const GLUE = ["workerd.js"];
const glue = Buffer.alloc(0);
const workerdEntry = readFileSync(join(PKG, "workerd.js"));
const snippets = existsSync(join(PKG, "snippets")) ? "snippets/ present" : "no snippets/";
const glueShipped = sizes(Buffer.concat([glue, workerdEntry]));
const wasmS = sizes(wasm);
// What a Worker's bundle holds: the glue minified (wrangler minifies with esbuild) + the .wasm.
const glueMin = sizes(
  await bundle("edge-retry-workerd", `export { retryFetch } from ${JSON.stringify(join(PKG, "workerd.js"))};`, {
    external: ["*.wasm"],
    conditions: ["workerd", "worker", "browser"],
  }),
);
// Browsers and bundlers: browser.js, wasm inlined as base64.
const browserMin = sizes(await bundle("edge-retry-browser", `export { retryFetch } from ${JSON.stringify(join(PKG, "browser.js"))};`));

const total = (a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli });
const rows = [
  row("edge-retry: wasm (edge_retry_bg.wasm)", wasmS),
  row(`edge-retry: JS as shipped (${GLUE.join(" + ")}: the workerd entry with the glue; ${snippets})`, glueShipped),
  row("edge-retry: **wasm + glue as shipped**", total(wasmS, glueShipped), "target: <= 16 KB gzip"),
  row("edge-retry: JS glue minified (esbuild, workerd entry, .wasm external)", glueMin),
  row("edge-retry: **wasm + minified glue** (a Worker's bundle)", total(wasmS, glueMin), "target: <= 16 KB gzip"),
  row("edge-retry: browser bundle, minified, wasm inlined as base64", browserMin),
];

// --- peers: a one-line module importing what the overhead benchmark uses ---
const PEERS = {
  ky: 'export { default } from "ky";',
  "fetch-retry": 'export { default } from "fetch-retry";',
  "p-retry": 'export { default } from "p-retry";',
  cockatiel: 'export { retry, handleAll, ExponentialBackoff } from "cockatiel";',
  ofetch: 'export { ofetch } from "ofetch";',
};
for (const [name, line] of Object.entries(PEERS)) {
  rows.push(row(`${name} ${version(name)} (\`${line}\`)`, sizes(await bundle(name, line))));
}

console.log("Sizes in KB (1024 bytes). gzip: zlib level 9; brotli: zlib quality 11. Peers: `esbuild --bundle --minify --format=esm --platform=browser` of the one line shown.\n");
console.log(table(["artifact", "raw KB", "gzip KB", "brotli KB", "note"], rows));
if (!QUICK) saveResult("size", { wasm: wasmS, glueShipped, glueMin, browserMin, shippedTotal: total(wasmS, glueShipped), workerTotal: total(wasmS, glueMin) });

// --- what takes the wasm's bytes ---
if (!QUICK) twiggy();

function twiggy() {
  const { wasm: opt, sh } = buildNamedWasm(TMP);
  const items = JSON.parse(sh("twiggy", ["top", "-f", "json", opt]));
  const doms = JSON.parse(sh("twiggy", ["dominators", "-f", "json", "-d", "2", opt]));

  // Everything but custom sections (the names kept for this analysis) is what ships.
  const isCustom = (n) => /subsection|^custom section|^"?\.debug|^producers|^target_features/.test(n);
  const shipped = items.filter((i) => !isCustom(i.name));
  const code = shipped.reduce((s, i) => s + i.shallow_size, 0);
  const pct = (n) => `${((100 * n) / code).toFixed(1)}%`;
  const groups = new Map();
  for (const item of shipped) {
    const g = groupOf(item.name);
    const e = groups.get(g) || { bytes: 0, n: 0, top: [] };
    e.bytes += item.shallow_size;
    e.n += 1;
    if (e.top.length < 3) e.top.push(`${short(item.name, 60)} (${item.shallow_size})`);
    groups.set(g, e);
  }
  const ranked = [...groups].sort((a, b) => b[1].bytes - a[1].bytes);
  const small = ranked.filter(([, e]) => e.bytes < code * 0.005);
  const shown = ranked.filter(([, e]) => e.bytes >= code * 0.005);
  console.log(
    `\nWhat takes the wasm's bytes: \`twiggy top\` of the release build (\`cargo build --release --target wasm32-unknown-unknown\`) passed through \`wasm-bindgen --keep-debug\` and \`wasm-opt -Oz -g\`: ${code} bytes outside the names section here, vs ${wasm.length} bytes shipped. Shallow sizes grouped by crate / module:\n`,
  );
  console.log(
    table(
      ["crate / module", "bytes", "% of wasm", "items", "largest items"],
      [
        ...shown.map(([g, e]) => [g, String(e.bytes), pct(e.bytes), String(e.n), e.top.join("; ")]),
        [`(${small.length} smaller groups)`, String(small.reduce((s, [, e]) => s + e.bytes, 0)), pct(small.reduce((s, [, e]) => s + e.bytes, 0)), String(small.reduce((s, [, e]) => s + e.n, 0)), ""],
      ],
    ),
  );
  console.log("\nLargest single items (`twiggy top`):\n");
  console.log(table(["item", "bytes", "% of wasm"], shipped.slice(0, 15).map((i) => [short(i.name, 110), String(i.shallow_size), pct(i.shallow_size)])));
  console.log("\nRetained sizes (`twiggy dominators`): what removing one root (and all it alone keeps alive) would save:\n");
  const roots = (doms.items?.[0]?.children || doms.children || []).filter((c) => !isCustom(c.name));
  const domRows = [];
  for (const c of roots.slice(0, 16)) {
    const kids = (c.children || []).filter((k) => k.retained_size >= 400).slice(0, 4);
    domRows.push([short(c.name, 80), String(c.retained_size), pct(c.retained_size), kids.map((k) => `${short(k.name, 50)} (${k.retained_size})`).join("; ")]);
  }
  console.log(table(["dominator root", "retained bytes", "% of wasm", "largest parts it holds"], domRows));
}

function short(name, max = 70) {
  const n = name.replace(/::h[0-9a-f]{16}/g, "");
  return (n.length > max ? n.slice(0, max - 1) + "…" : n).replace(/\|/g, "\\|");
}

// The crate (and, for edge-retry, the module) an item belongs to.
function groupOf(raw) {
  const name = raw.replace(/\[[0-9a-f]{16}\]/g, "").replace(/::h[0-9a-f]{16}$/, "");
  if (/^data segment|^data\[/.test(name)) return "data segments (strings: option names, error messages; tables)";
  if (/^(elem|table|type|import|export|global|memory|start|code section|wasm magic)\b/i.test(name) || /^"?(__wbindgen|__wbg|wbg)/.test(name))
    return "module structure (imports, exports, types, function table)";
  if (/^__externref_|externref shim|^Ref\(/.test(name) && !/^instance_|^presets/.test(name)) return "wasm-bindgen runtime (externref table, shims)";
  if (/^(instance_|presets)/.test(name)) return "exported entry points (instance_*: wasm-bindgen shims with the core inlined)";
  if (/^(__rustc::__rdl|__rust_|__rdl|__rg_)/.test(name) || /dlmalloc/.test(name)) return "allocator (dlmalloc, __rdl_*)";
  if (/^(memcpy|memset|memmove|memcmp|__multi3|__ashl|__lshr|__udiv|__umod|fmax|fmin|compiler_builtins)/.test(name)) return "compiler_builtins (memcpy, __multi3, fmax…)";
  // `<Type as Trait>::method`: a generic or primitive type belongs with the trait's crate.
  let n = name;
  const qual = n.match(/^<(.+?) as (.+?)>::/);
  if (qual) n = /^([A-Z]|u8|u16|u32|u64|i32|i64|f64|str|&str|char|bool|usize|\[)/.test(qual[1]) && !/::/.test(qual[1]) ? qual[2] : qual[1];
  n = n.replace(/^<+/, "").replace(/^&(mut )?/, "").replace(/^(impl |dyn )/, "");
  const m = n.match(/^([A-Za-z_][A-Za-z0-9_]*)(?:::([A-Za-z_][A-Za-z0-9_]*))?(?:::([A-Za-z_][A-Za-z0-9_]*))?/);
  if (!m) return "other";
  const [, crate, a, b] = m;
  if (crate === "edge_retry") return a === "core" || a === "js" ? `edge_retry::${a}::${b ?? ""}` : `edge_retry::${a ?? ""}`;
  if (crate === "core" && a === "fmt") return "core::fmt (formatting: error messages)";
  if (crate === "core" || crate === "alloc" || crate === "std") return `${crate}::${a ?? ""} (Rust std)`;
  if (crate === "wasm_bindgen" || crate === "js_sys") return `${crate}`;
  return crate;
}
