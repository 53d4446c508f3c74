// The built Worker (build/index.js and its wasm) in workerd, through
// miniflare, with the bindings wrangler.toml declares: the Durable Object
// namespace DEDUPE, the Queue GEMINI_EVENTS and its consumer, and the
// given variables. The Worker's console lines are collected: the
// consumer's `{"handled": …}` lines tell what ran.
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const root = fileURLToPath(new URL("..", import.meta.url));

export async function worker(bindings) {
  const lines = [];
  const mf = new Miniflare({
    rootPath: root,
    scriptPath: "build/index.js",
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    bindings,
    durableObjects: { DEDUPE: "Dedupe" },
    queueProducers: { GEMINI_EVENTS: "gemini-events" },
    queueConsumers: { "gemini-events": { maxBatchSize: 10, maxBatchTimeout: 0 } },
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio(stdout, stderr) {
      createInterface({ input: stdout }).on("line", (line) => lines.push(line));
      createInterface({ input: stderr }).on("line", (line) => process.stderr.write(`workerd: ${line}\n`));
    },
  });
  const url = await mf.ready;
  return {
    url,
    /** Waits (60 s at most) for `count` handled lines, then returns them. */
    async handled(count) {
      const deadline = Date.now() + 60_000;
      const parsed = () => lines.filter((l) => l.includes('"handled"')).map((l) => JSON.parse(l.slice(l.indexOf("{"))));
      while (parsed().length < count && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return parsed();
    },
    dispose: () => mf.dispose(),
  };
}
