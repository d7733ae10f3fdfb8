// `config import-btrbk` against btrbk itself: for each btrbk.conf, `btrbk list config
// --format=raw` (btrbk's own resolution of sections, inheritance and defaults) must describe the
// same subvolume × target pairs — source, snapshot directory and name, target, ssh user/port/key,
// snapshot and target retention — as snapkeep's resolution of the imported configuration.
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importBtrbkConfig } from '../../src/config/btrbk-import.js';
import { parseConfigText } from '../../src/config/load-config.js';
import { resolveConfig, type ResolvedRetention } from '../../src/config/resolve.js';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { createSubvolume, show, treeChecksums, writeRandomData } from '../helpers/btrfs-tree.js';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';

/**
 * btrbk's rendering of a retention in `list config --format=raw` (lossy: latest and no look
 * alike; the day and hour are shown only when the matrix has days or longer).
 */
function btrbkPreserveText(retention: ResolvedRetention): string {
  if (retention.preserve_min === 'all') return '*d+';
  const parts: string[] = [];
  if (/^\d+[hdwmy]$/.test(retention.preserve_min)) parts.push(`${retention.preserve_min}+`);
  if (retention.preserve !== 'no')
    parts.push(
      /[dwmy]/.test(retention.preserve)
        ? `${retention.preserve} (${retention.preserve_day_of_week}, ${String(retention.preserve_hour_of_day).padStart(2, '0')}:00)`
        : retention.preserve,
    );
  return parts.join(' ');
}

interface Pair {
  source: string;
  snapshotPath: string;
  snapshotName: string;
  target: string;
  targetRsh: string;
  snapshotPreserve: string;
  targetPreserve: string;
}

function parseRaw(text: string): Pair[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('format="config"'))
    .map((line) => {
      const fields = new Map<string, string>();
      for (const match of line.matchAll(/(\w+)='((?:[^']|'\\'')*)'/g))
        fields.set(match[1]!, match[2]!.replaceAll("'\\''", "'"));
      const field = (name: string): string => fields.get(name) ?? '';
      return {
        source: field('source_url'),
        snapshotPath: field('snapshot_path'),
        snapshotName: field('snapshot_name'),
        target: field('target_url'),
        targetRsh: field('target_rsh'),
        snapshotPreserve: field('snapshot_preserve'),
        targetPreserve: field('target_preserve'),
      };
    });
}

/** snapkeep's resolution, in btrbk's terms. */
function snapkeepPairs(yaml: string): Pair[] {
  const resolved = resolveConfig(parseConfigText(yaml, 'imported.yaml').config);
  const url = (path: string, ssh: (typeof resolved.subvolumes)[number]['ssh']): string =>
    ssh
      ? `ssh://${ssh.location.host}${ssh.location.port && ssh.location.port !== 22 ? `:${ssh.location.port}` : ''}${path}`
      : path;
  const rsh = (ssh: (typeof resolved.subvolumes)[number]['ssh']): string =>
    ssh
      ? [
          'ssh',
          ...(ssh.location.port && ssh.location.port !== 22 ? ['-p', String(ssh.location.port)] : []),
          ...(ssh.identityFile ? ['-i', `'${ssh.identityFile}'`] : []),
          `${ssh.location.user ?? 'root'}@${ssh.location.host}`,
        ].join(' ')
      : '';
  return resolved.subvolumes.flatMap((subvolume) =>
    subvolume.targets.map((target) => ({
      source: url(subvolume.path, subvolume.ssh),
      snapshotPath: subvolume.snapshotDir,
      snapshotName: subvolume.snapshotName,
      target: url(target.path, target.ssh),
      targetRsh: rsh(target.ssh),
      snapshotPreserve: btrbkPreserveText(subvolume.snapshotRetention),
      targetPreserve: btrbkPreserveText(target.retention),
    })),
  );
}

const order = (pairs: Pair[]): Pair[] =>
  [...pairs].sort((a, b) => `${a.source} ${a.target}`.localeCompare(`${b.source} ${b.target}`));

const configs: Record<string, string> = {
  'btrbk README example: global retention, volume target, one subvolume renamed': `
timestamp_format        long
snapshot_preserve_min   18h
snapshot_preserve       48h
target_preserve_min     no
target_preserve         20d 10w *m

volume /mnt/btr_pool
  snapshot_dir btrbk_snapshots
  target /mnt/btr_backup/mylaptop
  subvolume rootfs
  subvolume home
    snapshot_name home-x
    target ssh://backup.example.org/mnt/btr_backup/mylaptop
      target_preserve 7d
      ssh_user backup
`,
  'defaults only (btrbk keeps everything), absolute subvolume without volume': `
snapshot_dir /mnt/pool/.snaps
subvolume /mnt/pool/data
  target /mnt/usb/data
subvolume /mnt/pool/@home
  snapshot_name home
  target /mnt/usb/data
`,
  'target options over subvolume over volume over global; a target after a subvolume is its own': `
target_preserve_min 1d
preserve_day_of_week monday
volume /v
  snapshot_dir s
  preserve_hour_of_day 5
  target /t/all
    target_preserve 3w
  subvolume a
    target_preserve_min 2d
    snapshot_preserve_min latest
    snapshot_preserve 7d 4w
  subvolume b
    target /t/only-b
      target_preserve_min 4d
      target_preserve 2w *m
`,
  'pull from an ssh volume with port and key, to a local target and an ssh target': `
ssh_identity /root/.ssh/btrbk
volume ssh://source.example:2222/pool
  snapshot_dir snaps
  subvolume web
    target /mnt/backup/web
    target backup.example:/srv/copies
      ssh_user keeper
`,
};

describe('config import-btrbk against btrbk list config', () => {
  let root: string;
  beforeAll(async () => {
    await requireTools(['btrbk']);
    root = await mkdtemp(join(tmpdir(), 'snapkeep-btrbk-import-'));
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  for (const [label, text] of Object.entries(configs)) {
    it(label, async () => {
      const file = join(root, `${label.length}.conf`);
      await writeFile(file, text);
      const btrbk = await runChecked({ file: 'btrbk', args: ['-c', file, 'list', 'config', '--format=raw'] });
      const expected = parseRaw(btrbk.stdout);
      expect(expected.length).toBeGreaterThan(0);
      const imported = importBtrbkConfig(text, file);
      expect(imported.untranslated).toEqual([]);
      expect(order(snapkeepPairs(imported.yaml))).toEqual(order(expected));
    });
  }

  it('lists what it cannot translate, with the line, and still writes a valid config', () => {
    const text = `lockfile /run/btrbk.lock
volume /v
  snapshot_dir s
  subvolume www-*
  subvolume data
    snapshot_create ondemand
    stream_buffer 256m
    target raw /mnt/raw
    target /mnt/t
`;
    const imported = importBtrbkConfig(text, 'btrbk.conf');
    expect(imported.untranslated.map((entry) => entry.line)).toEqual([1, 4, 6, 7, 8]);
    expect(imported.yaml).toContain('line 4: subvolume www-* — a wildcard');
    const resolved = resolveConfig(parseConfigText(imported.yaml, 'imported.yaml').config);
    expect(resolved.subvolumes.map((subvolume) => subvolume.name)).toEqual(['data']);
    expect(resolved.subvolumes[0]!.targets.map((target) => target.path)).toEqual(['/mnt/t']);
  });
});

describe('snapkeep config import-btrbk (the command)', () => {
  const cleanups = useCleanups();

  it("takes over a real btrbk setup in one command: the first run sends incrementally from btrbk's snapshot", async () => {
    await requireTools(['btrbk', 'btrfs', 'mkfs.btrfs']);
    const source = await cleanups.loopBtrfs('imp-src', 300);
    const target = await cleanups.loopBtrfs('imp-tgt', 300);
    const base = await cleanups.tempDir('imp');
    const data = join(source.mountPoint, 'data');
    const targetDir = join(target.mountPoint, 'backups');
    await createSubvolume(data);
    await mkdir(join(source.mountPoint, 'btrbk_snapshots'));
    await mkdir(targetDir);
    await writeRandomData(data, 4);
    const btrbkConf = join(base, 'btrbk.conf');
    await writeFile(
      btrbkConf,
      `snapshot_preserve_min 2d\ntarget_preserve 20d 10w\nlockfile ${join(base, 'btrbk.lock')}\nvolume ${source.mountPoint}\n  snapshot_dir btrbk_snapshots\n  subvolume data\n    target ${targetDir}\n`,
    );
    const btrbk = await runCommand({ file: 'btrbk', args: ['-c', btrbkConf, 'run'] });
    expect(btrbk.exitCode, btrbk.stderr).toBe(0);
    const [btrbkSnapshot] = await readdir(targetDir);

    const output = join(base, 'snapkeep.yaml');
    const imported = await snapkeep(['config', 'import-btrbk', btrbkConf, '-o', output]);
    expectExit(imported, 0);
    expect(imported.stdout).toContain(
      `wrote ${output}: 1 subvolume(s), 1 target(s) imported from ${btrbkConf}`,
    );
    // lockfile has no snapkeep equivalent: named on stderr with its line, and in the file.
    expect(imported.stderr).toMatch(/^not translated: line 3: lockfile .* — /m);
    expect(await readFile(output, 'utf8')).toContain('#   line 3: lockfile');
    // Only the test's own state directory is added; the rest is the import as written.
    await appendFile(output, `state_dir: ${join(base, 'state')}\n`);
    expectExit(await snapkeep(['config', 'validate', '--config', output]), 0);

    await writeRandomData(join(data, 'new'), 1);
    const plan = await snapkeep(['run', '--config', output, '--dry-run', '--json']);
    expectExit(plan, 0);
    const send = events(plan.stdout)
      .filter((event) => event.type === 'plan')
      .flatMap((event) => event.steps as { kind: string; parent?: { name: string } }[])
      .find((step) => step.kind === 'send');
    expect(send?.parent?.name).toBe(btrbkSnapshot);

    expectExit(await snapkeep(['run', '--config', output]), 0);
    // data.latest, snapkeep's pointer, is not a copy.
    const copies = (await readdir(targetDir)).filter((name) => !name.endsWith('.latest'));
    expect(copies).toHaveLength(2);
    const newest = copies.find((name) => name !== btrbkSnapshot)!;
    const copy = await show(join(targetDir, newest));
    expect(copy.parentUuid).toBe((await show(join(targetDir, btrbkSnapshot!))).uuid);
    expect(await treeChecksums(join(targetDir, newest))).toEqual(await treeChecksums(data));
    // btrbk still recognises the snapshots snapkeep made as its own (same directory, same names).
    const listed = await runChecked({
      file: 'btrbk',
      args: ['-c', btrbkConf, 'list', 'snapshots', '--format=raw'],
    });
    expect(listed.stdout).toContain(newest);
  });

  it('stdout and --json: the configuration itself, then one event with the counts', async () => {
    const base = await cleanups.tempDir('imp-json');
    const btrbkConf = join(base, 'btrbk.conf');
    const text = 'volume /v\n  snapshot_dir s\n  subvolume a\n    target /t\n  subvolume b*\n';
    await writeFile(btrbkConf, text);
    const plain = await snapkeep(['config', 'import-btrbk', btrbkConf]);
    expectExit(plain, 0);
    expect(plain.stdout).toBe(importBtrbkConfig(text, btrbkConf).yaml);
    expect(plain.stderr).toMatch(/^not translated: line 5: subvolume b\* — a wildcard/m);
    const json = await snapkeep(['config', 'import-btrbk', btrbkConf, '--json']);
    expectExit(json, 0);
    const emitted = events(json.stdout).filter((event) => event.type !== 'summary');
    expect(emitted.map((event) => event.type)).toEqual(['import-untranslated', 'config-imported']);
    expect(emitted[0]).toMatchObject({ line: 5, text: 'subvolume b*' });
    expect(emitted[1]).toMatchObject({
      from: btrbkConf,
      subvolumes: 1,
      targets: 1,
      untranslated: 1,
      yaml: importBtrbkConfig(text, btrbkConf).yaml,
    });
  });

  it('bad input: a missing file, an existing --output, a file with nothing to import — exit 2, nothing written', async () => {
    const base = await cleanups.tempDir('imp-bad');
    const missing = await snapkeep(['config', 'import-btrbk', join(base, 'nope.conf')]);
    expectExit(missing, 2);
    expect(missing.stderr).toContain(join(base, 'nope.conf'));
    expect(missing.stdout).toBe('');

    const btrbkConf = join(base, 'btrbk.conf');
    await writeFile(btrbkConf, 'volume /v\n  snapshot_dir s\n  subvolume a\n');
    const existing = join(base, 'existing.yaml');
    await writeFile(existing, 'mine\n');
    const refused = await snapkeep(['config', 'import-btrbk', btrbkConf, '-o', existing]);
    expectExit(refused, 2);
    expect(refused.stderr).toContain(`${existing} already exists; refusing to overwrite it`);
    expect(await readFile(existing, 'utf8')).toBe('mine\n');

    const empty = join(base, 'empty.conf');
    await writeFile(empty, 'lockfile /run/x\nvolume /v\n  subvolume a\n');
    const nothing = await snapkeep(['config', 'import-btrbk', empty, '-o', join(base, 'out.yaml')]);
    expectExit(nothing, 2);
    expect(nothing.stderr).toContain('no subvolume could be imported');
    expect(nothing.stderr).toContain('no snapshot_dir');
    expect(await readdir(base)).not.toContain('out.yaml');
  });
});
