// OpenTofu or Terraform, as argv: which one runs and the commands `snapkeep infra` gives it. The
// module (infra/aws) is copied into a working directory beside snapkeep's state, so the state file
// lives there and not in the installed package; every command runs in that directory.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandSpec } from '../exec/command.js';
import { findOnPath, isExecutable } from '../exec/find-on-path.js';

export interface InfraTool {
  /** Absolute path of the binary. */
  readonly file: string;
  readonly name: 'tofu' | 'terraform';
}

/** The module shipped with snapkeep. */
export const moduleDirectory = fileURLToPath(new URL('../../infra/aws/', import.meta.url));
/** The target filter the module installs (its default path assumes the repository layout). */
export const filterScriptPath = fileURLToPath(
  new URL('../../share/snapkeep-target-filter.sh', import.meta.url),
);

/**
 * `SNAPKEEP_TOFU` (a path) wins, then `tofu`, then `terraform`: the module is plain HCL that both
 * run; OpenTofu is preferred because it is open source and what the users' plan used.
 */
export async function detectInfraTool(): Promise<InfraTool | undefined> {
  const override = process.env.SNAPKEEP_TOFU;
  if (override) {
    if (!(await isExecutable(override))) return undefined;
    return { file: override, name: override.endsWith('terraform') ? 'terraform' : 'tofu' };
  }
  const tofu = await findOnPath('tofu');
  if (tofu) return { file: tofu, name: 'tofu' };
  const terraform = await findOnPath('terraform');
  return terraform ? { file: terraform, name: 'terraform' } : undefined;
}

export const planFileName = 'snapkeep.tfplan';
export const variablesFileName = 'snapkeep.auto.tfvars.json';

// No prompts (snapkeep asks itself), no colour codes in captured text, no update checks.
const environment = { TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };

const spec = (tool: InfraTool, directory: string, args: readonly string[]): CommandSpec => ({
  file: tool.file,
  args,
  cwd: directory,
  env: environment,
});

export const initCommand = (tool: InfraTool, directory: string): CommandSpec =>
  spec(tool, directory, ['init', '-input=false', '-no-color']);

export const planCommand = (tool: InfraTool, directory: string, destroy = false): CommandSpec =>
  spec(tool, directory, [
    'plan',
    '-input=false',
    '-no-color',
    ...(destroy ? ['-destroy'] : []),
    `-out=${planFileName}`,
  ]);

/** Applies exactly the saved plan the user saw (a changed world makes it fail, not drift). */
export const applyCommand = (tool: InfraTool, directory: string): CommandSpec =>
  spec(tool, directory, ['apply', '-input=false', '-no-color', planFileName]);

export const outputCommand = (tool: InfraTool, directory: string): CommandSpec =>
  spec(tool, directory, ['output', '-json', '-no-color']);

/** Copy the module's .tf files (and its submodules) over the working copy; state stays. */
export async function copyModule(into: string, from = moduleDirectory): Promise<void> {
  await mkdir(into, { recursive: true, mode: 0o700 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(into, entry.name);
    if (entry.isDirectory()) {
      // tests/ is the module's own test suite, not something to plan.
      if (entry.name !== 'tests' && !entry.name.startsWith('.')) await copyModule(target, source);
    } else if (/\.(tf|tftpl|sh|json|hcl)$/.test(entry.name) && !entry.name.endsWith('.tfvars.json')) {
      await copyFile(source, target);
    }
  }
}
