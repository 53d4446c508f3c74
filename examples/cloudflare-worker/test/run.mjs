// Runs the built Worker in workerd (through miniflare, with the bindings
// wrangler.toml declares) and sends it signed deliveries with the crate's
// CLI: new ones, duplicates, concurrent copies, stale, tampered, wrongly
// signed and oversized ones. Checks every answer against the crate's
// status table, that each accepted delivery ran its handler once (after
// a failed first attempt, retried), and that a delivery whose handler
// always fails ends in the dead-letter queue.
//
//   GEMINI_WEBHOOKS_CLI=path/to/gemini-webhooks node test/run.mjs
import { execFile } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { worker } from "./worker.mjs";

const run = promisify(execFile);
const cli = process.env.GEMINI_WEBHOOKS_CLI;
if (!cli) throw new Error("GEMINI_WEBHOOKS_CLI names the gemini-webhooks binary");

const { stdout: secretOut } = await run(cli, ["--json", "keys", "new"]);
const secret = JSON.parse(secretOut).secret;
// Every message's first attempt fails (retried at once), and a delivery
// about `…/poison` always does: it goes to the dead-letter queue after
// its 2 retries.
const receiver = await worker(
  { GEMINI_WEBHOOK_SECRET: secret, GEMINI_TEST_FAILURES: "1", GEMINI_RETRY_DELAY_SECONDS: "0" },
  { maxRetries: 2 },
);
const url = new URL("/webhooks/gemini", receiver.url).href;

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures += 1;
}

/** `gemini-webhooks send`, its statuses as {status: count}. */
async function send(args) {
  try {
    const { stdout } = await run(cli, ["--json", "send", url, ...args]);
    return JSON.parse(stdout).statuses;
  } catch (err) {
    // Exit 1: not every answer was as expected; the JSON is still printed.
    if (err.stdout) return JSON.parse(err.stdout).statuses;
    throw err;
  }
}
const same = (a, b) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

try {
  const signed = ["--secret", secret];
  let accepted = 0;

  // New deliveries, each sent a second time with the same id.
  let statuses = await send([...signed, "--event", "batch.succeeded", "--event", "video.generated",
    "--count", "20", "--duplicates", "1"]);
  check(same(statuses, { 202: 20, 200: 20 }), `20 new: 202, their duplicates: 200 (${JSON.stringify(statuses)})`);
  accepted += statuses[202] ?? 0;

  // Copies racing their originals: each id is handed on once; a copy that
  // finds its first still in flight is told 409 (Gemini retries later).
  statuses = await send([...signed, "--event", "interaction.completed", "--count", "15",
    "--duplicates", "1", "--concurrency", "30"]);
  const onlyKnown = Object.keys(statuses).every((s) => ["200", "202", "409"].includes(s));
  check(statuses[202] === 15 && onlyKnown, `15 concurrent pairs: 15 × 202, the rest 200 or 409 (${JSON.stringify(statuses)})`);
  accepted += statuses[202] ?? 0;

  statuses = await send([...signed, "--event", "batch.failed", "--count", "20", "--stale", "--expect", "401"]);
  check(same(statuses, { 401: 20 }), `stale: 401 (${JSON.stringify(statuses)})`);
  statuses = await send([...signed, "--event", "batch.failed", "--count", "20", "--tampered", "--expect", "401"]);
  check(same(statuses, { 401: 20 }), `tampered: 401 (${JSON.stringify(statuses)})`);
  const { stdout: otherOut } = await run(cli, ["--json", "keys", "new"]);
  statuses = await send(["--secret", JSON.parse(otherOut).secret, "--event", "batch.failed", "--expect", "401"]);
  check(same(statuses, { 401: 1 }), `another endpoint's secret: 401 (${JSON.stringify(statuses)})`);

  const dir = mkdtempSync(join(tmpdir(), "gemini-worker-"));
  const big = join(dir, "big.json");
  writeFileSync(big, JSON.stringify({ type: "batch.succeeded", data: { id: "batches/big", pad: "x".repeat(300 * 1024) } }));
  statuses = await send([...signed, "--body", big, "--count", "5", "--expect", "413"]);
  check(same(statuses, { 413: 5 }), `a body over 256 KiB: 413 (${JSON.stringify(statuses)})`);
  // A verified 130 KB body cannot fit a Queue message (128 KB): refused
  // at once, not answered 503 for 24 hours.
  const over = join(dir, "over.json");
  writeFileSync(over, JSON.stringify({ type: "batch.succeeded", data: { id: "batches/over", pad: "x".repeat(130_000) } }));
  statuses = await send([...signed, "--body", over, "--expect", "413"]);
  check(same(statuses, { 413: 1 }), `a 130 KB body, more than a Queue message holds: 413 (${JSON.stringify(statuses)})`);
  // Just under the limit (112 KiB): queued and handled.
  const under = join(dir, "under.json");
  writeFileSync(under, JSON.stringify({ type: "batch.succeeded", data: { id: "batches/under", pad: "x".repeat(112 * 1024 - 80) } }));
  statuses = await send([...signed, "--body", under, "--expect", "202"]);
  check(same(statuses, { 202: 1 }), `a body just under 112 KiB: 202 (${JSON.stringify(statuses)})`);
  accepted += statuses[202] ?? 0;
  const notEvent = join(dir, "not-event.json");
  writeFileSync(notEvent, JSON.stringify({ hello: "world" }));
  statuses = await send([...signed, "--body", notEvent, "--expect", "422"]);
  check(same(statuses, { 422: 1 }), `a signed body that is not an event: 422 (${JSON.stringify(statuses)})`);

  const unsigned = await fetch(url, { method: "POST", body: "{}" });
  check(unsigned.status === 400, `no webhook-* headers: 400 (${unsigned.status})`);
  const get = await fetch(url);
  check(get.status === 405 && get.headers.get("allow") === "POST", `GET: 405, Allow: POST (${get.status})`);
  const elsewhere = await fetch(new URL("/elsewhere", receiver.url), { method: "POST" });
  check(elsewhere.status === 404, `another path: 404 (${elsewhere.status})`);
  const bench = await fetch(new URL("/bench/verify", receiver.url), { method: "POST" });
  check(bench.status === 404, `the benchmark route is off without GEMINI_BENCH (${bench.status})`);

  // Every accepted delivery reaches the Queue's consumer, once. A last
  // delivery goes through after the others have run, so a second run of
  // any of them would have shown by the time its line comes.
  await receiver.handled(accepted);
  statuses = await send([...signed, "--event", "batch.expired", "--expect", "202"]);
  check(same(statuses, { 202: 1 }), `the last delivery: 202 (${JSON.stringify(statuses)})`);
  accepted += 1;
  const handled = await receiver.handled(accepted);
  const ids = handled.map((line) => line.handled);
  check(handled.length === accepted, `the consumer ran ${handled.length} handlers for ${accepted} accepted deliveries`);
  check(new Set(ids).size === ids.length, `no delivery ran twice (${new Set(ids).size} distinct ids)`);
  const retried = new Set((await receiver.retried(accepted)).map((line) => line.retrying));
  check(ids.every((id) => retried.has(id)), `each handled delivery failed once first and was retried (${retried.size} retried)`);

  // A delivery whose handler always fails: acknowledged (202), retried,
  // then kept in the dead-letter queue, not deleted.
  const poison = join(dir, "poison.json");
  writeFileSync(poison, JSON.stringify({ type: "batch.failed", data: { id: "batches/poison" } }));
  statuses = await send([...signed, "--body", poison, "--expect", "202"]);
  check(same(statuses, { 202: 1 }), `a delivery its handler cannot take: 202 (${JSON.stringify(statuses)})`);
  const dead = await receiver.deadLetters(1);
  check(dead.length === 1, `after its retries it is in the dead-letter queue (${dead.length})`);
} finally {
  await receiver.dispose();
}
if (failures > 0) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("all checks passed");
