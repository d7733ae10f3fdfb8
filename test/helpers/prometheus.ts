// Prometheus in tests: reading the text exposition format (as a scraper reads it: a sample is a
// name, labels and a value, and a timestamp would be a fourth field), and a real
// prometheus-node-exporter on 127.0.0.1 serving a textfile directory.
import { spawn } from 'node:child_process';
import type { Cleanups } from './cleanups.js';
import { freePort, loopback, waitForPort } from './net.js';
import { isRunning, waitUntil } from './processes.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** The sample's line as written. */
  readonly line: string;
  /** Whether the line carries a timestamp after the value. */
  readonly timestamped: boolean;
}

const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+(\S+))?\s*$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[3] ?? '').matchAll(labelPattern))
      labels[key!] = value!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    samples.push({
      name: match[1]!,
      labels,
      value: Number(match[4]),
      line,
      timestamped: match[6] !== undefined,
    });
  }
  return samples;
}

/** The samples of `name` whose labels include `labels`. */
export function samplesOf(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Sample[] {
  return samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

/** The one value of `name` with `labels` (fails when there is none or more than one). */
export function valueOf(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const found = samplesOf(samples, name, labels);
  if (found.length !== 1)
    throw new Error(`expected one sample of ${name} ${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}

export interface NodeExporter {
  readonly url: string;
  readonly pid: number;
  scrape(): Promise<string>;
}

/**
 * prometheus-node-exporter on 127.0.0.1 and a free port with only the textfile collector (the
 * others read the machine's hardware and would slow each scrape), reading `directory`. Stopped
 * (its PID only) by the cleanups.
 */
export async function startNodeExporter(cleanups: Cleanups, directory: string): Promise<NodeExporter> {
  const port = await freePort();
  const child = spawn(
    '/usr/bin/prometheus-node-exporter',
    [
      `--web.listen-address=${loopback}:${port}`,
      '--collector.disable-defaults',
      '--collector.textfile',
      `--collector.textfile.directory=${directory}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const pid = child.pid!;
  cleanups.push(async () => {
    if (isRunning(pid)) process.kill(pid, 'SIGTERM');
    await waitUntil('node_exporter to stop', () => !isRunning(pid));
  });
  try {
    await waitForPort(port, child, 'prometheus-node-exporter');
  } catch (error) {
    throw new Error(`${String(error)}\n${log}`);
  }
  const url = `http://${loopback}:${port}/metrics`;
  return {
    url,
    pid,
    async scrape() {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`node_exporter answered ${response.status}\n${log}`);
      return response.text();
    },
  };
}
