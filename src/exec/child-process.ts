// node:child_process, loaded when the first child starts rather than with this module's
// importers: the commands that start none (status, check) then never load it.
import { createRequire } from 'node:module';
import type * as ChildProcessModule from 'node:child_process';

const load = createRequire(import.meta.url);
let loaded: typeof ChildProcessModule | undefined;

export function childProcess(): typeof ChildProcessModule {
  loaded ??= load('node:child_process') as typeof ChildProcessModule;
  return loaded;
}
