#!/usr/bin/env node
// Test data for the btrfs benchmarks (no dependencies; Node's crypto makes incompressible bytes).
//
//   node data.mjs populate DIR MEGABYTES          fill DIR with ~MEGABYTES of files
//   node data.mjs change DIR PERCENT SEED          rewrite and add files worth PERCENT of DIR's data
//
// Layout of `populate` (fractions of the total, all random = incompressible):
//   25 % in 2 huge files, 25 % in 4 large, 25 % in 16 medium, 12.5 % in 64 small-medium,
//   7.5 % in 256 KiB files, ~4 % in many small files of 512 B - 16 KiB (3,000 per GiB).
// `change` rewrites whole existing files (new extents; snapshots keep the old ones) for ~60 % of
// the budget, adds new files for ~40 % and deletes a few small files, all chosen by a seeded PRNG
// so that a given seed changes the same files. It prints the bytes written as JSON.
import { closeSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join, relative } from 'node:path';

const MiB = 1024 * 1024;
const chunk = Buffer.allocUnsafe(4 * MiB);

function writeRandomFile(path, size) {
  const fd = openSync(path, 'w');
  try {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      writeSync(fd, chunk, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

/** mulberry32: small, seeded, good enough to pick files reproducibly. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function populate(dir, megabytes) {
  const total = megabytes * MiB;
  const groups = [
    ['huge', 2, total / 8],
    ['large', 4, total / 16],
    ['medium', 16, total / 64],
    ['smallmedium', 64, total / 512],
    ['k256', Math.max(1, Math.round((0.075 * total) / (256 * 1024))), 256 * 1024],
  ];
  let written = 0;
  let files = 0;
  for (const [name, count, size] of groups) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < count; i++) {
      const bytes = Math.max(4096, Math.floor(size / 4096) * 4096);
      writeRandomFile(join(dir, name, `f${String(i).padStart(4, '0')}.bin`), bytes);
      written += bytes;
      files++;
    }
  }
  const random = prng(megabytes);
  const smallCount = Math.max(10, Math.round((3000 * megabytes) / 1024));
  for (let i = 0; i < smallCount; i++) {
    const sub = join(dir, 'small', `d${String(i % 30).padStart(2, '0')}`);
    if (i < 30) mkdirSync(sub, { recursive: true });
    const bytes = 512 + Math.floor(random() * (16 * 1024 - 512));
    writeRandomFile(join(sub, `s${String(i).padStart(5, '0')}.dat`), bytes);
    written += bytes;
    files++;
  }
  return { written, files };
}

function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) out.push({ path: p, size: statSync(p).size });
    }
  };
  walk(dir);
  out.sort((a, b) => (a.path < b.path ? -1 : 1)); // readdir order is not stable across runs
  return out;
}

function change(dir, percent, seed) {
  const files = listFiles(dir);
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const budget = (total * percent) / 100;
  const random = prng(seed * 7919 + 17);
  let rewritten = 0;
  let rewrittenFiles = 0;
  // Rewrite ~60 % of the budget: random existing files that still fit into what is left.
  const rewriteBudget = budget * 0.6;
  for (let attempts = 0; attempts < files.length * 2 && rewritten < rewriteBudget * 0.95; attempts++) {
    const file = files[Math.floor(random() * files.length)];
    if (file.size > rewriteBudget - rewritten || file.size === 0) continue;
    writeRandomFile(file.path, file.size);
    rewritten += file.size;
    rewrittenFiles++;
  }
  // Add ~40 %: a few MiB-sized files and some small ones in a directory named after the seed.
  const addDir = join(dir, 'added', `s${seed}`);
  mkdirSync(addDir, { recursive: true });
  let added = 0;
  let addedFiles = 0;
  const addBudget = budget - rewritten;
  while (added < addBudget) {
    const big = random() < 0.7;
    const size = big
      ? Math.floor(((1 + random() * 7) * MiB) / 4096) * 4096
      : 512 + Math.floor(random() * 16 * 1024);
    const bytes = Math.max(512, Math.min(size, Math.ceil(addBudget - added)));
    writeRandomFile(join(addDir, `a${String(addedFiles).padStart(4, '0')}.bin`), bytes);
    added += bytes;
    addedFiles++;
  }
  // Delete a few small files (unlinks are part of real change sets).
  let deleted = 0;
  const small = files.filter((file) => file.size < 16 * 1024 && file.path.includes('/small/'));
  for (let i = 0; i < Math.min(20, small.length); i++) {
    const file = small[Math.floor(random() * small.length)];
    try {
      unlinkSync(file.path);
      deleted++;
    } catch {
      // picked twice
    }
  }
  return {
    dir: relative(process.cwd(), dir) || dir,
    totalBytes: total,
    rewrittenBytes: rewritten,
    rewrittenFiles,
    addedBytes: added,
    addedFiles,
    deletedFiles: deleted,
    changedPercent: Number((((rewritten + added) / total) * 100).toFixed(2)),
  };
}

const [command, dir, arg, seedArg] = process.argv.slice(2);
if (command === 'populate' && dir && arg) {
  process.stdout.write(`${JSON.stringify(populate(dir, Number(arg)))}\n`);
} else if (command === 'change' && dir && arg) {
  process.stdout.write(`${JSON.stringify(change(dir, Number(arg), Number(seedArg ?? 1)))}\n`);
} else {
  process.stderr.write('usage: data.mjs populate DIR MEGABYTES | change DIR PERCENT SEED\n');
  process.exit(2);
}
