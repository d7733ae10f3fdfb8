// An append-only restic REST server for tests: `rclone serve restic --append-only` on 127.0.0.1 and
// a free port, with basic auth, its own (empty) rclone config and its own directory. stop() kills
// it by PID; start() brings it back on the same port and data (an offsite that goes away).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTools } from './loop-btrfs.js';
import { freePort, waitForPort } from './net.js';

export interface RestServer {
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly directory: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startRestServer(): Promise<RestServer> {
  await requireTools(['rclone']);
  const directory = await mkdtemp(join(tmpdir(), 'snapkeep-rest-'));
  const config = join(directory, 'rclone.conf');
  await writeFile(config, '');
  const port = await freePort();
  const user = 'backup';
  const password = `rest-${Math.random().toString(36).slice(2)}-secret`;
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(
      'rclone',
      [
        'serve',
        'restic',
        join(directory, 'data'),
        '--addr',
        `127.0.0.1:${port}`,
        '--append-only',
        '--user',
        user,
        '--pass',
        password,
        '--config',
        config,
      ],
      // rclone's S3 code reads AWS_CA_BUNDLE even here; nothing of the caller's environment matters.
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: directory },
      },
    );
    await waitForPort(port, child, 'rclone', 15_000);
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `rest:http://127.0.0.1:${port}/`,
    user,
    password,
    directory,
    stop,
    start,
    cleanup: async () => {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
