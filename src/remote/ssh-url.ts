// `ssh://user@host[:port]/absolute/path` — where a remote target (or a pull-mode source) lives.
// Parsed strictly: every part reaches ssh's argv or the target filter's grammar.

export interface SshLocation {
  readonly user: string;
  readonly host: string;
  readonly port?: number;
  readonly path: string;
}

/** Characters a path may use on a remote host: the filter's grammar has no quoting. */
export const remotePathPattern = /^\/[A-Za-z0-9._/:@+=,-]*$/;
const userPattern = /^[a-z_][a-z0-9_.-]{0,31}$/i;
const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ipv6Pattern = /^\[[0-9A-Fa-f:.]+\]$/;

export function isSshUrl(value: string): boolean {
  return value.startsWith('ssh://');
}

/** The problem with a remote path, or undefined when it is acceptable. */
export function remotePathProblem(path: string): string | undefined {
  if (!remotePathPattern.test(path))
    return 'uses characters a remote path may not contain; expected an absolute path of A-Z a-z 0-9 . _ - + @ : = , /';
  if (path.split('/').some((part) => part === '..' || part === '.'))
    return 'contains a "." or ".." component; expected a plain absolute path';
  if (path.includes('//')) return 'contains "//"; expected single slashes';
  return undefined;
}

export type ParsedSshUrl = { ok: true; value: SshLocation } | { ok: false; error: string };

export function parseSshUrl(url: string): ParsedSshUrl {
  const match = /^ssh:\/\/([^@/]+)@(\[[^\]]+\]|[^:/]+)(?::(\d+))?(\/.*)$/.exec(url);
  if (!match) return { ok: false, error: 'is not an ssh URL; expected ssh://user@host[:port]/absolute/path' };
  const [, user, host, port, path] = match as unknown as [string, string, string, string | undefined, string];
  if (!userPattern.test(user))
    return { ok: false, error: `has an invalid user name "${user}"; expected a POSIX user name` };
  if (!hostPattern.test(host) && !ipv6Pattern.test(host))
    return { ok: false, error: `has an invalid host "${host}"; expected a host name or an IP address` };
  let portNumber: number | undefined;
  if (port !== undefined) {
    portNumber = Number(port);
    if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535)
      return { ok: false, error: `has an invalid port ${port}; expected 1 to 65535` };
  }
  const problem = remotePathProblem(path);
  if (problem) return { ok: false, error: `path ${problem}` };
  return {
    ok: true,
    value: {
      user,
      host: host.replace(/^\[|\]$/g, ''),
      port: portNumber,
      path: path.replace(/\/$/, '') || '/',
    },
  };
}

export function formatSshUrl(location: SshLocation): string {
  const host = location.host.includes(':') ? `[${location.host}]` : location.host;
  return `ssh://${location.user}@${host}${location.port ? `:${location.port}` : ''}${location.path}`;
}
