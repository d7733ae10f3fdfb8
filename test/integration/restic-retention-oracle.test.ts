// The backup sets' retention against restic itself: a repository without `retention:` gets the
// shipped default, and the runs `snapkeep prune --dry-run` would delete are exactly the snapshots
// `restic forget --dry-run` with the same --keep-* options removes (restic 0.14 and 0.18), on a
// history of one-item runs at irregular times over two years.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultResticRetention } from '../../src/config/restic-schema.js';
import { runChecked } from '../../src/exec/command.js';
import { seededRandom } from '../helpers/btrbk-oracle.js';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { resticBinaries, type ResticBinary } from '../helpers/restic-binaries.js';

const cleanups = useCleanups(afterAll);
let binaries: ResticBinary[];
const password = 'retention oracle password';

beforeAll(async () => {
  binaries = await resticBinaries();
});

const pad = (value: number): string => String(value).padStart(2, '0');
const resticTime = (date: Date): string =>
  `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;

describe('backup-set retention against restic forget', () => {
  for (const index of [0, 1])
    it(`restic #${index}: the default retention deletes what restic forget would`, async () => {
      const binary = binaries[index]!;
      const base = await cleanups.tempDir(`retention-oracle-${index}`);
      const repository = join(base, 'repo');
      const files = join(base, 'files');
      await mkdir(files);
      await writeFile(join(files, 'a'), 'a');
      const env = { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: password, TZ: 'UTC' };
      const restic = (args: string[]) => runChecked({ file: binary.path, args, env });
      await restic(['init']);
      // 45 runs: dense in the last days, sparser back over two years.
      const random = seededRandom(20261202 + index);
      const now = Date.parse('2026-12-02T12:00:00Z');
      const offsets = Array.from({ length: 45 }, (_, run) => (run < 10 ? run * 0.3 : run ** 2.1 * 0.45));
      for (const [run, days] of offsets.entries()) {
        const time = new Date(now - (days + random() * 0.2) * 86_400_000);
        await restic([
          'backup',
          '--quiet',
          '--time',
          resticTime(time),
          '--host',
          'oracle',
          ...[
            'snapkeep-set=app',
            `snapkeep-run=run${run}`,
            'snapkeep-source=files',
            'snapkeep-items=1',
          ].flatMap((tag) => ['--tag', tag]),
          files,
        ]);
      }
      const config = join(base, 'snapkeep.yaml');
      await writeFile(
        config,
        `state_dir: ${join(base, 'state')}
repositories:
  local: { url: ${repository}, password: env:RETENTION_ORACLE_PASSWORD }
sources:
  files: { type: directory, paths: [${files}] }
backup_sets:
  app: { sources: [files], repository: local }
`,
      );

      const pruned = await snapkeep(['prune', '--dry-run', '--json', '--config', config], {
        env: { RETENTION_ORACLE_PASSWORD: password, TZ: 'UTC', SNAPKEEP_RESTIC: binary.path },
      });
      expectExit(pruned, 0);
      const deletedBySnapkeep = events(pruned.stdout)
        .filter((event) => event.type === 'decision' && event.action === 'delete')
        .map((event) => String(event.run))
        .sort();

      const policy = defaultResticRetention;
      const forget = await restic([
        'forget',
        '--dry-run',
        '--json',
        '--tag',
        'snapkeep-set=app',
        '--keep-within',
        policy.keep_within!,
        '--keep-daily',
        String(policy.keep_daily),
        '--keep-weekly',
        String(policy.keep_weekly),
        '--keep-monthly',
        String(policy.keep_monthly),
        '--keep-yearly',
        String(policy.keep_yearly),
      ]);
      const groups = JSON.parse(forget.stdout) as { remove: { tags: string[] }[] | null }[];
      const deletedByRestic = groups
        .flatMap((group) => group.remove ?? [])
        .map((snapshot) =>
          snapshot.tags.find((tag) => tag.startsWith('snapkeep-run='))!.slice('snapkeep-run='.length),
        )
        .sort();
      expect(deletedByRestic.length).toBeGreaterThan(5);
      expect(deletedBySnapkeep).toEqual(deletedByRestic);
    });
});
