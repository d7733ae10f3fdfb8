// The environment variables a configuration's `env:` secret references name. They hold secrets
// (or identifiers kept beside them) that only the child a reference is for may see: declared to
// exec as soon as the configuration is read, so no other child inherits them from snapkeep's
// environment (exec/command.ts environmentFor). Commands therefore start no child before they
// have read the configuration.
import { withholdFromChildren } from '../exec/command.js';
import type { ResolvedChannel, ResolvedConfig } from './resolve.js';
import { secretReferencePattern } from './secret-reference.js';

/** The values of a channel that may be secret references (the others are plain text). */
export function notifyReferencesOf(channel: ResolvedChannel): string[] {
  switch (channel.type) {
    case 'email':
      return channel.transport.kind === 'smtp'
        ? [channel.transport.user, channel.transport.password].filter((value) => value !== undefined)
        : [];
    case 'ntfy':
      return [channel.topic, ...(channel.token === undefined ? [] : [channel.token])];
    case 'webhook':
      return [channel.url, ...Object.values(channel.headers)];
    case 'healthchecks':
      return [channel.url];
  }
}

/** Every reference of the configuration that may name a secret (pure). */
export function secretReferencesOf(config: ResolvedConfig): string[] {
  const references: string[] = [];
  for (const set of config.backupSets) {
    for (const repository of [set.repository, ...set.offsite])
      references.push(repository.password, ...Object.values(repository.env));
    for (const source of set.sources)
      if (source.type === 'postgres' && source.password !== undefined) references.push(source.password);
  }
  for (const channel of config.notify.channels) references.push(...notifyReferencesOf(channel));
  return references.filter((reference) => secretReferencePattern.test(reference));
}

export function withholdSecretVariables(config: ResolvedConfig): void {
  for (const reference of secretReferencesOf(config))
    if (reference.startsWith('env:')) withholdFromChildren(reference.slice(4));
}
