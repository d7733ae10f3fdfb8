#!/usr/bin/env node
// The peak resident memory of a whole process tree (the command and everything it starts),
// sampled from /proc while it runs.
//
//   node peak-rss.mjs OUT_JSON -- COMMAND [ARGS...]
//
// Runs COMMAND (stdio inherited), and every few milliseconds sums VmRSS over it and its living
// descendants (found through /proc/PID/task/TID/children); writes {"peakKiB": N, "samples": N,
// "peakProcesses": N} to OUT_JSON and exits with COMMAND's exit code. A sample sees what lives
// at that moment: a child that starts and ends between two samples is missed (btrfs-progs
// processes live a few milliseconds and use ~3 MiB; the figure is dominated by the long-lived
// process), and a daemon that detaches (`ssh -f`'s master, reparented to init) is not counted.
// Shared pages are counted in every process that maps them, as RSS is.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setInterval, clearInterval } from 'node:timers';

const [out, separator, command, ...args] = process.argv.slice(2);
if (!out || separator !== '--' || !command) {
  process.stderr.write('usage: peak-rss.mjs OUT_JSON -- COMMAND [ARGS...]\n');
  process.exit(2);
}

const read = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

/** The pids of `pid` and its descendants that are alive now. */
function tree(pid) {
  const found = [];
  const queue = [pid];
  while (queue.length > 0) {
    const each = queue.pop();
    found.push(each);
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${each}/task`);
    } catch {
      continue; // gone
    }
    for (const task of tasks)
      for (const child of read(`/proc/${each}/task/${task}/children`).split(' '))
        if (child.trim() !== '') queue.push(Number(child));
  }
  return found;
}

const rssKiB = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(read(`/proc/${pid}/status`))?.[1] ?? 0);

const child = spawn(command, args, { stdio: 'inherit' });
let peakKiB = 0;
let peakProcesses = 0;
let samples = 0;
const sample = () => {
  if (child.pid === undefined) return;
  const pids = tree(child.pid);
  const total = pids.reduce((sum, pid) => sum + rssKiB(pid), 0);
  samples++;
  if (total > peakKiB) {
    peakKiB = total;
    peakProcesses = pids.length;
  }
};
const timer = setInterval(sample, 4);
child.once('spawn', sample);
child.once('error', (error) => {
  process.stderr.write(`peak-rss: ${command}: ${error.message}\n`);
  process.exit(127);
});
child.once('exit', (code, signal) => {
  clearInterval(timer);
  writeFileSync(out, `${JSON.stringify({ peakKiB, samples, peakProcesses })}\n`);
  process.exit(code ?? (signal ? 128 : 1));
});
