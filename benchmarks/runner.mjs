// The V8 peer: runs one workload of the Wasm modules in benchmarks/ and times only the
// workload calls, as the Wasmtime peer does.
//
// Usage: node runner.mjs WASM_DIR WORKLOAD SIZE ROUNDS
// Prints one JSON object: {"seconds": ..., "checksum": "...", "peak_rss_bytes": ...} (the
// checksum is a decimal string, since the i64 comes back as a BigInt; the peak RSS is Linux's
// VmHWM, left out elsewhere).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const [dir, workload, sizeText, roundsText] = process.argv.slice(2);
const size = Number.parseInt(sizeText, 10);
const rounds = Number.parseInt(roundsText, 10);
if (!dir || !workload || !Number.isInteger(size) || !Number.isInteger(rounds)) {
  console.error("usage: node runner.mjs WASM_DIR WORKLOAD SIZE ROUNDS");
  process.exit(2);
}

function load(name) {
  const bytes = readFileSync(join(dir, `${name}.wasm`));
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
}

let seconds;
let checksum;
if (workload === "registry") {
  // Compile the types-only module twice per round (register, then re-register the same rec
  // group while the first is alive), then run the subtype checks: the drc drivers do the same.
  const types = readFileSync(join(dir, "registry_types.wasm"));
  const checks = load("registry_checks");
  // WebAssembly.Module cannot count its types: each compile counts the chain's 8.
  const chain = 8n;
  let registered = 0n;
  const start = performance.now();
  for (let round = 0; round < size; round++) {
    const first = new WebAssembly.Module(types);
    const again = new WebAssembly.Module(types);
    if (!(first instanceof WebAssembly.Module && again instanceof WebAssembly.Module)) {
      throw new Error("compile failed");
    }
    registered += 2n * chain;
  }
  const yes = checks.subtype_checks(size);
  seconds = (performance.now() - start) / 1000;
  checksum = registered + yes;
} else {
  const exports = load("workloads");
  const start = performance.now();
  if (workload === "binary-trees") checksum = exports.binary_trees(size);
  else if (workload === "list-churn") checksum = exports.list_churn(size, rounds);
  else if (workload === "array-churn") checksum = exports.array_churn(size, rounds);
  else if (workload === "cycle-churn") checksum = exports.cycle_churn(size, rounds);
  else {
    console.error(`unknown workload ${workload}`);
    process.exit(2);
  }
  seconds = (performance.now() - start) / 1000;
}
// VmHWM, not process.resourceUsage().maxRSS: on Linux the latter starts at the parent's
// resident set at fork time.
function peakRss() {
  try {
    const line = readFileSync("/proc/self/status", "utf8").split("\n")
      .find((l) => l.startsWith("VmHWM:"));
    return line ? Number.parseInt(line.split(/\s+/)[1], 10) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

console.log(JSON.stringify({ seconds, checksum: checksum.toString(), peak_rss_bytes: peakRss() }));
