// An S3 server for tests: s3rver (npm) over TLS on 127.0.0.1 and a free port, with a self-signed
// certificate for IP 127.0.0.1 (restic gets it with --cacert). TLS is not optional: over plain
// HTTP s3rver stores restic's chunk-signature framing and the repository is corrupt (FACTS.md).
// s3rver accepts the access key S3RVER / S3RVER. stop() kills it by PID.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './net.js';
import { selfSignedCertificate } from './tls.js';

export interface S3Server {
  /** https://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** PEM of the self-signed certificate (repositories' cacert). */
  readonly certificate: string;
  stop(): Promise<void>;
}

const s3rverBin = fileURLToPath(new URL('../../node_modules/s3rver/bin/s3rver.js', import.meta.url));

export async function startS3Server(): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'snapkeep-s3-'));
  const { keyFile: key, certFile: certificate } = await selfSignedCertificate(directory);
  const port = await freePort();
  const bucket = 'snapkeep-test';
  const child = spawn(
    process.execPath,
    [
      s3rverBin,
      '-d',
      join(directory, 'data'),
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--silent',
      '--key',
      key,
      '--cert',
      certificate,
      '--configure-bucket',
      bucket,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await waitForPort(port, child, 's3rver', 20_000);
  return {
    endpoint: `https://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    certificate,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
