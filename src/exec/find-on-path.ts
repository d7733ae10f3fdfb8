// Which file a command name runs: the first executable of that name in a PATH directory, as
// execvp finds it (used to name a program's exact binary without starting it).
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function findOnPath(name: string): Promise<string | undefined> {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (directory && (await isExecutable(join(directory, name)))) return join(directory, name);
  }
  return undefined;
}
