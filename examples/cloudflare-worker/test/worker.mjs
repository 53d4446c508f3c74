// The built Worker (build/index.js and its wasm) in workerd, through
// miniflare, with the bindings wrangler.toml declares: the Durable Object
// namespace DEDUPE, the Queue GEMINI_EVENTS and its consumer (retries, and
// the dead-letter queue gemini-events-dlq), and the given variables. A
// second, tiny Worker stands for the operator's watch on the dead-letter
// queue. The Workers' console lines are collected: the consumer's
// `{"handled": …}` and `{"retrying": …}` lines and the dead-letter
// watcher's `{"dead_letter": …}` lines tell what ran.
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const root = fileURLToPath(new URL("..", import.meta.url));

// What lands in the dead-letter queue, logged and acknowledged.
const deadLetterWatch = `export default {
  async queue(batch) {
    for (const message of batch.messages) {
      console.log(JSON.stringify({ dead_letter: message.body.id }));
      message.ack();
    }
  },
};`;

export async function worker(bindings, { maxRetries = 10 } = {}) {
  const lines = [];
  const collect = (input) => createInterface({ input }).on("line", (line) => lines.push(line));
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio(stdout, stderr) {
      collect(stdout);
      collect(stderr);
      createInterface({ input: stderr }).on("line", (line) => process.stderr.write(`workerd: ${line}\n`));
    },
    workers: [
      {
        name: "gemini-webhooks",
        rootPath: root,
        scriptPath: "build/index.js",
        modules: true,
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate: "2026-04-01",
        bindings,
        durableObjects: { DEDUPE: "Dedupe" },
        queueProducers: { GEMINI_EVENTS: "gemini-events" },
        queueConsumers: {
          "gemini-events": {
            maxBatchSize: 10,
            maxBatchTimeout: 0,
            maxRetries,
            deadLetterQueue: "gemini-events-dlq",
          },
        },
      },
      {
        name: "dead-letter-watch",
        modules: true,
        script: deadLetterWatch,
        compatibilityDate: "2026-04-01",
        queueConsumers: { "gemini-events-dlq": { maxBatchSize: 10, maxBatchTimeout: 0 } },
      },
    ],
  });
  const url = await mf.ready;
  const parsed = (key) =>
    lines.filter((l) => l.includes(`"${key}"`)).map((l) => JSON.parse(l.slice(l.indexOf("{"))));
  /** Waits (60 s at most) for `count` lines with `key`, then returns them. */
  async function waitFor(key, count) {
    const deadline = Date.now() + 60_000;
    while (parsed(key).length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return parsed(key);
  }
  return {
    url,
    handled: (count) => waitFor("handled", count),
    retried: (count) => waitFor("retrying", count),
    deadLetters: (count) => waitFor("dead_letter", count),
    dispose: () => mf.dispose(),
  };
}
