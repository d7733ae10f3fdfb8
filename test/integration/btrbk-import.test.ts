// `config import-btrbk` against btrbk itself: for each btrbk.conf, `btrbk list config
// --format=raw` (btrbk's own resolution of sections, inheritance and defaults) must describe the
// same subvolume × target pairs — source, snapshot directory and name, target, ssh user/port/key,
// snapshot and target retention — as snapkeep's resolution of the imported configuration.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importBtrbkConfig } from '../../src/config/btrbk-import.js';
import { parseConfigText } from '../../src/config/load-config.js';
import { resolveConfig, type ResolvedRetention } from '../../src/config/resolve.js';
import { runChecked } from '../../src/exec/command.js';
import { requireTools } from '../helpers/loop-btrfs.js';

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
