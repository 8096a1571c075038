// A gateway client in Node.js that times sequential requests, the counterpart of gwrtt's measuring
// loop for benchmarks/node_vs_gwrtt.py.
//
// It uses the `ws` package from the installed openclaw package's node_modules and connects without
// an Origin header, which ws does not send. It waits for the connect.challenge event and sends
// `connect` with the params from --params-file. Then it sends --warmup unrecorded and --iterations
// recorded requests, one at a time. Each request is timed with process.hrtime.bigint() from just
// before ws.send() to the start of the message handler that receives its response, before the
// frame is parsed. gwrtt times the same span. permessage-deflate is turned off, because
// websocket-client (and so gwrtt) cannot negotiate it and both clients should receive the same
// bytes.
//
// Prints one JSON object on stdout: {count, p50Us, meanUs, minUs, maxUs, connectUs, samplesUs}.
//
// Usage: node benchmarks/node_client.mjs --url ws://127.0.0.1:PORT --params-file FILE
//          [--method health] [--iterations 1000] [--warmup 100] [--ws-from PACKAGE_JSON]

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REQUEST_TIMEOUT_MS = 10_000;
const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const installedOpenclaw = path.join(scriptDir, "..", ".gateway", "openclaw", "node_modules", "openclaw", "package.json");

const { values: options } = parseArgs({
  options: {
    url: { type: "string" },
    "params-file": { type: "string" },
    method: { type: "string", default: "health" },
    iterations: { type: "string", default: "1000" },
    warmup: { type: "string", default: "100" },
    "ws-from": { type: "string", default: installedOpenclaw },
  },
});
if (!options.url || !options["params-file"]) {
  console.error("node_client.mjs: --url and --params-file are required");
  process.exit(2);
}
const iterations = Number.parseInt(options.iterations, 10);
const warmup = Number.parseInt(options.warmup, 10);

// Resolve `ws` as the openclaw package itself would, from its own node_modules.
const WebSocket = createRequire(options["ws-from"])("ws");
const connectParams = JSON.parse(readFileSync(options["params-file"], "utf8"));

const ws = new WebSocket(options.url, { perMessageDeflate: false });
let pending = null;
let resolveChallenge;
const challenge = new Promise((resolve) => {
  resolveChallenge = resolve;
});

ws.on("message", (data) => {
  const receivedNs = process.hrtime.bigint();
  const frame = JSON.parse(data.toString("utf8"));
  if (frame.type === "event") {
    if (frame.event === "connect.challenge") resolveChallenge();
    return;
  }
  if (frame.type === "res" && pending && frame.id === pending.id) {
    const request = pending;
    pending = null;
    clearTimeout(request.timer);
    request.resolve({ frame, durationNs: receivedNs - request.sentNs });
  }
});

function request(method, params) {
  return new Promise((resolve, reject) => {
    const id = randomUUID();
    const text = JSON.stringify({ type: "req", id, method, params });
    const timer = setTimeout(() => {
      pending = null;
      reject(new Error(`timeout waiting for ${method} after ${REQUEST_TIMEOUT_MS} ms`));
    }, REQUEST_TIMEOUT_MS);
    pending = { id, resolve, timer, sentNs: process.hrtime.bigint() };
    ws.send(text);
  });
}

async function requestOk(method, params) {
  const response = await request(method, params);
  if (response.frame.ok !== true) {
    throw new Error(`${method} failed: ${JSON.stringify(response.frame.error)}`);
  }
  return response;
}

function nearestRank(sorted, fraction) {
  return sorted[Math.max(1, Math.ceil(sorted.length * fraction)) - 1];
}

async function main() {
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  // The gateway also accepts a connect sent before the challenge, so waiting is bounded.
  await Promise.race([challenge, new Promise((resolve) => setTimeout(resolve, 2000))]);
  const hello = await requestOk("connect", connectParams);

  for (let i = 0; i < warmup; i += 1) await requestOk(options.method, {});
  const samplesNs = [];
  for (let i = 0; i < iterations; i += 1) {
    samplesNs.push((await requestOk(options.method, {})).durationNs);
  }

  const samplesUs = samplesNs.map((value) => Number(value) / 1000);
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const result = {
    count: samplesUs.length,
    p50Us: nearestRank(sorted, 0.5),
    meanUs: samplesUs.reduce((sum, value) => sum + value, 0) / samplesUs.length,
    minUs: sorted[0],
    maxUs: sorted[sorted.length - 1],
    connectUs: Number(hello.durationNs) / 1000,
    samplesUs,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main()
  .catch((error) => {
    console.error(`node_client.mjs: ${error.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    ws.close();
    // The close handshake needs a round trip; do not let a silent peer keep the process alive.
    setTimeout(() => process.exit(), 1000).unref();
  });
