#!/usr/bin/env node
// Writes a synthetic state directory for bench/status.sh: DAYS of 4-hourly ticks, each one
// `snapkeep run` over SUBVOLUMES subvolumes × 2 targets (snapshot, two sends, pruning of one
// snapshot and two copies) and one `snapkeep backup` of 3 sets (2 items and an offsite copy each),
// with lines shaped as the engines write them. Before every run it compacts the journal as the run
// lifecycle does (dist/state/journal-compaction.js, under the lock): the journal a real machine
// would have after that history. Also writes the config and the transfer state.
//   node status-journal.mjs DIR DAYS [SUBVOLUMES]
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, daysText, subvolumesText = '20'] = process.argv.slice(2);
if (!dir || !daysText) {
  process.stderr.write('usage: status-journal.mjs DIR DAYS [SUBVOLUMES]\n');
  process.exit(2);
}
const repo = resolve(new URL('../..', import.meta.url).pathname);
const { compactJournal } = await import(pathToFileURL(join(repo, 'dist/state/journal-compaction.js')).href);

const days = Number(daysText);
const subvolumes = Array.from(
  { length: Number(subvolumesText) },
  (_, index) => `vol${String(index).padStart(2, '0')}`,
);
const targets = ['usb', 'nas'];
const sets = ['db', 'mail', 'uploads'];
const state = join(dir, 'state');
mkdirSync(state, { recursive: true });
for (const name of [...subvolumes.map((name) => `src/${name}`), 'usb', 'nas', 'repo', 'copy', 'uploads'])
  mkdirSync(join(dir, name), { recursive: true });

writeFileSync(
  join(dir, 'snapkeep.yaml'),
  `state_dir: ${state}
targets:
  usb:
    path: ${dir}/usb
  nas:
    path: ${dir}/nas
subvolumes:
${subvolumes.map((name) => `  ${name}:\n    path: ${dir}/src/${name}\n    snapshot_dir: ${dir}/src/${name}/.snapshots\n    targets: [usb, nas]\n`).join('')}repositories:
  local:
    url: ${dir}/repo
    password: env:BENCH_PASSWORD
  copy:
    url: ${dir}/copy
    password: env:BENCH_PASSWORD
sources:
  uploads:
    type: directory
    paths: [${dir}/uploads]
backup_sets:
${sets.map((name) => `  ${name}:\n    sources: [uploads]\n    repository: local\n    offsite: [copy]\n`).join('')}`,
);

const journal = join(state, 'journal.ndjson');
const end = Date.now() - 3_600_000; // the last tick an hour ago: nothing is stale
const ticks = Math.round(days * 6);
const stamp = (ms) => new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 13);
const identity = {
  pid: 4_194_999,
  host: 'bench',
  bootId: '00000000-0000-0000-0000-000000000000',
  processStart: 1,
};
const transfers = {};
let lines = 0;
for (let tick = 0; tick < ticks; tick++) {
  const start = end - (ticks - 1 - tick) * 4 * 3_600_000;
  for (const command of ['run', 'backup']) {
    await compactJournal(state, { probe: () => false });
    const run = `${stamp(start)}-${command === 'run' ? 1000 : 2000}`;
    let at = start + (command === 'run' ? 0 : 600_000);
    const out = [];
    const line = (event, fields) => {
      at += 50;
      out.push(JSON.stringify({ v: 1, time: new Date(at).toISOString(), run, event, ...fields }));
    };
    line('run-start', {
      command,
      config: join(dir, 'snapkeep.yaml'),
      only: [],
      ...identity,
      ...(command === 'backup' ? { sets, restic: 'restic 0.18.0' } : {}),
    });
    if (command === 'run') {
      for (const subvolume of subvolumes) {
        const name = `${subvolume}.${stamp(start)}`;
        const old = `${subvolume}.${stamp(start - 14 * 86_400_000)}`;
        const path = `${dir}/src/${subvolume}/.snapshots/${name}`;
        line('step', {
          kind: 'create-snapshot',
          subvolume,
          source: `${dir}/src/${subvolume}`,
          path,
          name,
          reason: 'snapshot_create always: a new snapshot every run',
          ok: true,
          durationMs: 40,
        });
        for (const target of targets) {
          line('step', {
            kind: 'send',
            subvolume,
            target,
            name,
            snapshotPath: path,
            targetDirectory: `${dir}/${target}`,
            parent: {
              name: `${subvolume}.${stamp(start - 4 * 3_600_000)}`,
              reason: 'the newest snapshot the target has',
            },
            reason: `${target} lacks the newest snapshot`,
            ok: true,
            durationMs: 900,
            bytes: 12_000_000,
          });
          (transfers[subvolume] ??= {})[target] = {
            lastSent: name,
            lastSentAt: new Date(at).toISOString(),
            lastIncrementalBytes: 12_000_000,
          };
          line('step', {
            kind: 'delete-copy',
            subvolume,
            target,
            path: `${dir}/${target}/${old}`,
            name: old,
            reason: 'target_preserve 14d: older than 14 days',
            ok: true,
            durationMs: 30,
          });
        }
        line('step', {
          kind: 'delete-snapshot',
          subvolume,
          path: `${dir}/src/${subvolume}/.snapshots/${old}`,
          name: old,
          reason: 'snapshot_preserve 14d: older than 14 days',
          ok: true,
          durationMs: 30,
        });
      }
      line('run-end', {
        command,
        exitCode: 0,
        durationMs: 60_000,
        jobs: subvolumes.map((subvolume) => ({ subvolume, status: 'ok' })),
      });
    } else {
      for (const set of sets) {
        for (const what of ['dump postgres app', 'folder /srv/uploads'])
          line('item', {
            set,
            source: 'uploads',
            what,
            ok: true,
            durationMs: 2000,
            item: { snapshotId: 'f'.repeat(64), bytes: 1_000_000 },
          });
        line('offsite', { set, repository: 'copy', ok: true, present: 2, missing: [], durationMs: 3000 });
      }
      line('run-end', {
        command,
        exitCode: 0,
        durationMs: 20_000,
        sets: sets.map((set) => ({
          set,
          run,
          ok: true,
          offsite: [{ repository: 'copy', ok: true, present: 2 }],
        })),
      });
    }
    appendFileSync(journal, `${out.join('\n')}\n`);
    lines += out.length;
  }
}
writeFileSync(join(state, 'transfers.json'), `${JSON.stringify(transfers, null, 2)}\n`);
process.stdout.write(`${JSON.stringify({ days, ticks, lines })}\n`);
