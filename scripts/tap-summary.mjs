#!/usr/bin/env node
// Echoes ava's TAP output and ends with one plain line, "N passed, N failed",
// that any CI can read. Exits 1 when the TAP shows a failure.
import { createInterface } from 'node:readline';

let passed = 0;
let failed = 0;
let skipped = 0;
for await (const line of createInterface({ input: process.stdin })) {
  process.stdout.write(line + '\n');
  if (/^ok \d+/.test(line)) {
    if (/ # SKIP$/i.test(line)) skipped++;
    else passed++;
  } else if (/^not ok \d+/.test(line)) {
    if (/ # TODO$/i.test(line)) skipped++;
    else failed++;
  }
}
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed > 0 ? 1 : 0;
