// Can we open a TCP connection to the host's ssh port at all? Asked before ssh itself, because
// the two common failures need different fixes and ssh's own message is easy to misread:
// "refused" means the host answered and nothing listens (sshd stopped, wrong port), a timeout
// means nothing answered (host down, or a firewall / security group drops the packets).
import { connect } from 'node:net';

export type TcpProbe =
  | { readonly kind: 'open'; readonly ms: number }
  | {
      readonly kind: 'refused' | 'timeout' | 'unresolved' | 'unreachable' | 'error';
      readonly message: string;
    };

/** Pure: a socket error code as a probe outcome. */
export function classifySocketError(code: string | undefined, message: string): TcpProbe {
  if (code === 'ECONNREFUSED') return { kind: 'refused', message };
  if (code === 'ETIMEDOUT') return { kind: 'timeout', message };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME')
    return { kind: 'unresolved', message };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN')
    return { kind: 'unreachable', message };
  return { kind: 'error', message };
}

export function probeTcp(host: string, port: number, timeoutMs: number): Promise<TcpProbe> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ kind: 'timeout', message: `no answer within ${Math.round(timeoutMs / 1000)} s` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ kind: 'open', ms: Date.now() - startedAt });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(classifySocketError(error.code, error.message));
    });
  });
}
