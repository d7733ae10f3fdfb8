// `snapkeep quickstart` makes a sandbox of its own per run (real loop-mounted btrfs, the built
// CLI): two quickstarts side by side on one state directory each get one and both succeed; a
// cleanup removes only the sandbox it names, never one whose quickstart is still running, asks
// which when there are several, and removes the state directory quickstart created once it is empty.
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { startSnapkeep, waitUntil } from '../helpers/processes.js';

let work = '';
let stateDir = '';

async function mountsUnder(root: string): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${root}/`));
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/** The sandbox a quickstart's --json output names. */
function sandboxRoot(stdout: string): string {
  const built = events(stdout).find((event) => event.type === 'quickstart' && event.step === 'sandbox');
  expect(built, stdout).toBeDefined();
  return built!.root as string;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'snapkeep-quickstart-'));
  // Two levels quickstart has to create: both go again with the last sandbox.
  stateDir = join(work, 'made', 'state');
});

afterAll(async () => {
  // Whatever a failed test left: unmount through quickstart itself, then remove.
  for (const name of await readdir(stateDir).catch(() => [])) {
    if (name.startsWith('quickstart'))
      await snapkeep(['quickstart', '--state-dir', stateDir, '--cleanup', name]);
  }
  await rm(work, { recursive: true, force: true });
});

describe('quickstart sandboxes', () => {
  let first = '';
  let second = '';

  it('gives two quickstarts side by side a sandbox each; both complete', async () => {
    const [a, b] = await Promise.all([
      snapkeep(['quickstart', '--state-dir', stateDir, '--json']),
      snapkeep(['quickstart', '--state-dir', stateDir, '--json']),
    ]);
    expectExit(a, 0);
    expectExit(b, 0);
    first = sandboxRoot(a.stdout);
    second = sandboxRoot(b.stdout);
    expect(first).not.toBe(second);
    for (const root of [first, second]) {
      expect(root.startsWith(`${stateDir}/quickstart-`)).toBe(true);
      expect((await mountsUnder(root)).length).toBe(2);
    }
    for (const output of [a.stdout, b.stdout]) {
      const verified = events(output).find((event) => event.step === 'verify');
      expect(verified?.verified).toBe(true);
    }
  });

  it('refuses a bare --cleanup while there are several, and removes nothing', async () => {
    const result = await snapkeep(['quickstart', '--state-dir', stateDir, '--cleanup']);
    expectExit(result, 2);
    expect(result.stderr).toContain(`snapkeep quickstart --cleanup ${first}`);
    expect(result.stderr).toContain(`snapkeep quickstart --cleanup ${second}`);
    expect((await mountsUnder(first)).length).toBe(2);
    expect((await mountsUnder(second)).length).toBe(2);
  });

  it("removes the sandbox it names and leaves the other's working", async () => {
    const result = await snapkeep(['quickstart', '--state-dir', stateDir, '--cleanup', first, '--json']);
    expectExit(result, 0);
    expect(events(result.stdout)).toEqual([
      { type: 'quickstart', action: 'cleanup', removed: true, root: first },
      expect.objectContaining({ type: 'summary', command: 'quickstart', exitCode: 0 }),
    ]);
    expect(await exists(first)).toBe(false);
    expect(await mountsUnder(first)).toEqual([]);
    expect((await mountsUnder(second)).length).toBe(2);
    // The other sandbox still works as its quickstart said it would.
    const list = await snapkeep(['list', '-c', join(second, 'snapkeep.yaml')]);
    expectExit(list, 0);
    expect(list.stdout).toContain('data');
  });

  it('never removes a sandbox whose quickstart is still running', async () => {
    const running = startSnapkeep(['quickstart', '--state-dir', stateDir, '--json']);
    let stdout = '';
    running.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const root = await waitUntil('the sandbox event', () => {
      const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1);
      return /"step":"sandbox"/.test(complete) && sandboxRoot(complete);
    });
    // Held still (SIGSTOP), so it is surely running while the cleanups below try.
    process.kill(running.pid, 'SIGSTOP');
    try {
      const named = await snapkeep(['quickstart', '--state-dir', stateDir, '--cleanup', root]);
      expectExit(named, 11);
      expect(named.stderr).toContain(`in use by the quickstart running as pid ${running.pid}`);
      expect(await exists(join(root, 'snapkeep.yaml'))).toBe(true);
      expect((await mountsUnder(root)).length).toBe(2);
    } finally {
      process.kill(running.pid, 'SIGCONT');
    }
    const ended = await running.exited;
    expect(ended.code, ended.stderr).toBe(0);
    // Once it has ended, the same cleanup removes it.
    expectExit(await snapkeep(['quickstart', '--state-dir', stateDir, '--cleanup', root]), 0);
    expect(await exists(root)).toBe(false);
  });

  it('with one sandbox left, a bare --cleanup removes it and the state directory quickstart made', async () => {
    const result = await snapkeep(['quickstart', '--state-dir', stateDir, '--cleanup']);
    expectExit(result, 0);
    expect(result.stdout).toContain(`removed the sandbox ${second}`);
    expect(await mountsUnder(second)).toEqual([]);
    // Both directories quickstart created are gone; the one that was there stays.
    expect(await exists(join(work, 'made'))).toBe(false);
    expect(await exists(work)).toBe(true);
    const again = await snapkeep(['quickstart', '--state-dir', stateDir, '--cleanup']);
    expectExit(again, 0);
    expect(again.stdout).toContain('no sandbox to remove');
  });

  it('keeps a state directory it did not create, and refuses what is not a sandbox', async () => {
    const own = join(work, 'own-state');
    await mkdir(own);
    const run = await snapkeep(['quickstart', '--state-dir', own, '--json']);
    expectExit(run, 0);
    expectExit(await snapkeep(['quickstart', '--state-dir', own, '--cleanup', sandboxRoot(run.stdout)]), 0);
    expect(await readdir(own)).toEqual([]);
    const refused = await snapkeep(['quickstart', '--state-dir', own, '--cleanup', work]);
    expectExit(refused, 2);
    expect(refused.stderr).toContain('is not a quickstart sandbox');
    expect(await exists(work)).toBe(true);
  });
});
