// A quick TCP probe of a network repository before restic is asked to open it: restic retries an
// unreachable backend for minutes (0.18) before it gives up, and its final message does not say
// "unreachable" clearly. A refused or silent host:port is reported at once instead.
import { connect } from 'node:net';

/** host and port of a network repository URL; undefined for a local path. */
export function endpointOf(url: string): { host: string; port: number } | undefined {
  const http = /^(?:rest|s3):(https?):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?/.exec(url);
  if (http) {
    const [, scheme, host, port] = http;
    return { host: host!.replace(/^\[|\]$/g, ''), port: port ? Number(port) : scheme === 'https' ? 443 : 80 };
  }
  const sftp = /^sftp:(?:\/\/)?(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::(\d+)\/)?/.exec(url);
  if (sftp) return { host: sftp[1]!.replace(/^\[|\]$/g, ''), port: sftp[2] ? Number(sftp[2]) : 22 };
  return undefined;
}

/** undefined when the endpoint accepts a TCP connection within `timeoutMs`, else why not. */
export function probe(
  endpoint: { host: string; port: number },
  timeoutMs = 5000,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    const done = (problem: string | undefined): void => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => {
      done(`no answer from ${endpoint.host}:${endpoint.port} within ${timeoutMs / 1000} s`);
    });
    socket.once('connect', () => {
      done(undefined);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      done(
        `${endpoint.host}:${endpoint.port}: ${error.code === 'ECONNREFUSED' ? 'connection refused (is the server running?)' : (error.code ?? error.message)}`,
      );
    });
  });
}
