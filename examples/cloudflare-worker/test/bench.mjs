// Verification time inside workerd: the built Worker with GEMINI_BENCH=1
// verifies one signed 1 KiB delivery N times per request. Workers freeze
// their clocks while code runs, so the time is taken from outside: the
// median request time at N = 1 and at N = 20001, the difference divided
// by 20000 is one verification.
//
//   node test/bench.mjs        (after scripts/test-worker --build)
import { createHmac, randomBytes } from "node:crypto";
import { worker } from "./worker.mjs";

const key = randomBytes(32);
const secret = `whsec_${key.toString("base64")}`;
const receiver = await worker({ GEMINI_WEBHOOK_SECRET: secret, GEMINI_BENCH: "1" });

// A batch.succeeded event padded to 1 KiB, as the native benchmarks use.
const event = { type: "batch.succeeded", timestamp: "2026-12-01T00:00:00Z", data: { id: "batches/bench" }, pad: "" };
event.pad = "x".repeat(1024 - JSON.stringify(event).length);
const body = JSON.stringify(event);
const id = "msg_bench";
const timestamp = Math.floor(Date.now() / 1000).toString();
const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
const headers = { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${signature}` };

async function time(n) {
  const url = new URL(`/bench/verify?n=${n}`, receiver.url);
  const samples = [];
  for (let i = 0; i < 25; i += 1) {
    const start = process.hrtime.bigint();
    const response = await fetch(url, { method: "POST", headers, body });
    const verified = Number(await response.text());
    const elapsed = Number(process.hrtime.bigint() - start) / 1e3;
    if (verified !== n) throw new Error(`${verified} of ${n} verified`);
    samples.push(elapsed);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

try {
  await time(1000); // warm up: compile tiers, first Durable-Object-free paths
  const one = await time(1);
  const many = await time(20001);
  const each = (many - one) / 20000;
  console.log(JSON.stringify({ body_bytes: body.length, request_us_n1: one, request_us_n20001: many, verify_us: each }));
} finally {
  await receiver.dispose();
}
