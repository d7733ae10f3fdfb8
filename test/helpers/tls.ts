// TLS for the servers tests start on 127.0.0.1 (SMTP with STARTTLS, s3rver over https).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from '../../src/exec/command.js';

/** A self-signed certificate for IP 127.0.0.1 (openssl, valid a day), its PEMs and files. */
export async function selfSignedCertificate(
  directory: string,
): Promise<{ key: string; cert: string; keyFile: string; certFile: string }> {
  const keyFile = join(directory, 'server.key');
  const certFile = join(directory, 'server.crt');
  await runChecked({
    file: 'openssl',
    args: [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
  });
  return {
    key: await readFile(keyFile, 'utf8'),
    cert: await readFile(certFile, 'utf8'),
    keyFile,
    certFile,
  };
}
