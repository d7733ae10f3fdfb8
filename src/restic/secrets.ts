// Secret references (`env:NAME`, `file:/path`, `op://vault/item/field`) → values, at the moment a
// command needs them. Every value is registered for masking, so it never appears in output, the
// journal or an error; values reach children only through their environment.
import { readFile } from 'node:fs/promises';
import { registerSecret, runCommand, withholdFromChildren } from '../exec/command.js';
import { ExitCode, SnapkeepError, messageOfPathError } from '../errors.js';

const cache = new Map<string, Promise<string>>();

/**
 * `where` names the config key, for messages: "repositories.offsite.password". `sensitive`
 * false for identifiers kept beside secrets (a user name, an access key id): masking a word like
 * "backup" in every message would help nobody.
 */
export function resolveSecret(reference: string, where: string, sensitive = true): Promise<string> {
  let value = cache.get(reference);
  if (!value) {
    value = read(reference, where).then((secret) => {
      if (sensitive) registerSecret(secret);
      return secret;
    });
    cache.set(reference, value);
    value.catch(() => cache.delete(reference));
  }
  return value;
}

async function read(reference: string, where: string): Promise<string> {
  if (reference.startsWith('env:')) {
    const name = reference.slice(4);
    // Whatever its sensitivity, no other child needs it: whoever does gets it through its spec.
    withholdFromChildren(name);
    const value = process.env[name];
    if (value === undefined || value === '')
      throw new SnapkeepError(
        `${where}: the environment variable ${name} is not set (${reference}); set it where snapkeep runs (a systemd service: Environment= or EnvironmentFile=), or refer to a file: file:/path`,
        ExitCode.usage,
      );
    return value;
  }
  if (reference.startsWith('file:')) {
    const path = reference.slice(5);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new SnapkeepError(`${where} (${reference}): ${messageOfPathError(error, path)}`, ExitCode.usage);
    }
    // The first line: files written with `echo` end in a newline that is not part of the secret.
    const value = text.split(/\r?\n/)[0] ?? '';
    if (value === '') throw new SnapkeepError(`${where}: the secret file ${path} is empty`, ExitCode.usage);
    return value;
  }
  if (reference.startsWith('op://')) {
    const result = await runCommand({ file: 'op', args: ['read', '--no-newline', reference] }).catch(
      (error: unknown) => {
        throw new SnapkeepError(
          `${where}: cannot run the 1Password CLI (op) for ${reference}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'op is not installed' : String(error)}`,
          ExitCode.usage,
        );
      },
    );
    if (result.exitCode !== 0 || result.stdout === '')
      throw new SnapkeepError(
        `${where}: op read ${reference} failed: ${result.stderr.trim() || `exit ${result.exitCode}`} (signed in? OP_SERVICE_ACCOUNT_TOKEN set?)`,
        ExitCode.usage,
      );
    return result.stdout;
  }
  throw new SnapkeepError(`${where}: ${reference} is not a secret reference`, ExitCode.usage);
}
