// Runs Python code under the official MicroPython WebAssembly port for pytest.
// Protocol: one JSON request per stdin line {"id", "code", "trees": {mpdir: hostdir}, "files": {path: text}}
// -> one JSON reply per stdout line {"id", "stdout", "error"}. Each request gets a fresh
// MicroPython instance (~30 ms) so tests cannot leak state into each other.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

const treeCache = new Map();

function readTree(hostDir) {
  // Cache per run: firmware and test sources do not change during a pytest session.
  if (treeCache.has(hostDir)) return treeCache.get(hostDir);
  const files = [];
  const walk = (dir, rel) => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      if (ent.name === "__pycache__" || ent.name.startsWith(".")) continue;
      const full = path.join(dir, ent.name);
      const r = rel ? rel + "/" + ent.name : ent.name;
      if (ent.isDirectory()) walk(full, r);
      else if (ent.name.endsWith(".py") || ent.name.endsWith(".json") || ent.name.endsWith(".bin"))
        files.push([r, fs.readFileSync(full)]);
    }
  };
  walk(hostDir, "");
  treeCache.set(hostDir, files);
  return files;
}

function mkdirs(FS, p) {
  let cur = "";
  for (const part of p.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}

async function handle(req) {
  let out = "";
  const mp = await loadMicroPython({
    stdout: (s) => { out += s + "\n"; },
    stderr: (s) => { out += s + "\n"; },
    heapsize: req.heapsize || 8 * 1024 * 1024,
  });
  for (const [mpDir, hostDir] of Object.entries(req.trees || {})) {
    mkdirs(mp.FS, mpDir);
    for (const [rel, data] of readTree(hostDir)) {
      const dest = mpDir + "/" + rel;
      mkdirs(mp.FS, path.posix.dirname(dest));
      mp.FS.writeFile(dest, data);
    }
  }
  for (const [dest, content] of Object.entries(req.files || {})) {
    mkdirs(mp.FS, path.posix.dirname(dest));
    // binary files travel base64-encoded as {"b64": ...}
    mp.FS.writeFile(dest, typeof content === "string" ? content : Buffer.from(content.b64, "base64"));
  }
  let error = null;
  try {
    mp.runPython(req.code);
  } catch (e) {
    error = e && e.message ? e.message : String(e);
  }
  return { id: req.id, stdout: out, error };
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let chain = Promise.resolve();
rl.on("line", (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let reply;
    try {
      reply = await handle(JSON.parse(line));
    } catch (e) {
      reply = { id: null, stdout: "", error: "runner: " + (e && e.stack ? e.stack : String(e)) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
});
rl.on("close", () => { chain.then(() => process.exit(0)); });
