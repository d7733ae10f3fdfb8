// The text of the restic and infra engines' events: an event in, the lines a person reads out
// (the lines these commands printed before their orchestration moved out of src/cli/).
import { describe, expect, it } from 'vitest';
import { backupText } from '../../../src/cli/backup-command.js';
import { infraText } from '../../../src/cli/infra-command.js';
import { setPruneText } from '../../../src/cli/set-prune-command.js';
import { restorePointText, setRestoreText } from '../../../src/cli/set-restore-command.js';
import { verifyText } from '../../../src/cli/verify-command.js';
import { toStderr } from '../../../src/cli/printer.js';

describe('backup', () => {
  const plan = {
    type: 'plan',
    set: 'app',
    repository: 'local',
    repositoryUrl: '/srv/repo',
    dryRun: true,
    items: [
      { source: 'uploads', type: 'directory', description: 'back up /srv/uploads' },
      { source: 'db', type: 'postgres', description: 'stream pg_dump of database app into restic' },
    ],
  } as const;

  it('the dry run: each set with its repository and what it would capture, then that nothing changed', () => {
    expect(backupText({ ...plan, repositoryExists: false })).toEqual([
      'app → local (/srv/repo, would be created):',
      '  would back up /srv/uploads (source uploads)',
      '  would stream pg_dump of database app into restic (source db)',
    ]);
    expect(backupText({ ...plan, repositoryExists: true })[0]).toBe('app → local (/srv/repo):');
    expect(backupText({ ...plan, repositoryProblem: 'wrong password' })[0]).toBe(
      'app → local (/srv/repo: wrong password):',
    );
    expect(backupText({ type: 'summary', command: 'backup', dryRun: true, exitCode: 0 })).toEqual([
      'dry run: nothing changed',
    ]);
    expect(backupText({ type: 'summary', command: 'backup', dryRun: false, exitCode: 0, run: 'r' })).toEqual(
      [],
    );
  });

  it('items, offsite copies and sets: ok or FAIL, with the error on stderr', () => {
    const item = {
      type: 'item',
      set: 'app',
      source: 'uploads',
      what: 'back up /srv/uploads',
      durationMs: 1234,
    } as const;
    expect(
      backupText({
        ...item,
        ok: true,
        item: { source: 'uploads', type: 'directory', snapshotId: '0123456789abcdef' },
      }),
    ).toEqual(['ok   app: back up /srv/uploads [1.23s] snapshot 01234567']);
    expect(backupText({ ...item, ok: false, error: 'disk full' })).toEqual([
      'FAIL app: back up /srv/uploads [1.23s]',
      toStderr('ERROR: app: disk full'),
    ]);
    const copy = {
      type: 'offsite',
      set: 'app',
      repository: 'rest',
      present: 2,
      missing: [],
      durationMs: 500,
    } as const;
    expect(backupText({ ...copy, ok: true })).toEqual([
      'ok   app → rest: copied, all 2 snapshot(s) of this run are there [0.50s]',
    ]);
    expect(backupText({ ...copy, ok: false, error: 'unreachable' })).toEqual([
      'FAIL app → rest: unreachable',
      toStderr('ERROR: app → rest: unreachable (the local backup is kept)'),
    ]);
    expect(
      backupText({ type: 'set-failed', set: 'app', run: 'r1', error: 'no such host', exitCode: 10 }),
    ).toEqual([toStderr('ERROR: app: no such host')]);
    expect(backupText({ type: 'set', set: 'app', run: 'r1', ok: true, items: 3 })).toEqual([
      'app: restore point r1 (3 item(s))',
    ]);
    expect(backupText({ type: 'set', set: 'app', run: 'r1', ok: false, items: 0, error: 'gone' })).toEqual([
      'app: FAILED: gone',
    ]);
  });
});

describe('restore of a backup set', () => {
  const plan = {
    type: 'plan',
    set: 'app',
    run: 'r1',
    repository: 'local',
    date: '2025-01-02T03:04:05Z',
    items: 2,
    mode: 'merge',
    steps: [
      { kind: 'files', snapshotId: 's1', path: '/srv/up', target: '/srv/up', overwrites: true, notInRun: [] },
      { kind: 'database', snapshotId: 's2', filename: 'f', from: 'app', into: 'app', exists: true },
      { kind: 'database', snapshotId: 's3', filename: 'g', from: 'log', into: 'log_new', exists: false },
    ],
    stop: [['systemctl', 'stop', 'app']],
    start: [['systemctl', 'start', 'app']],
  } as const;

  it('the plan: the run, stop commands, every step, start commands ("would" under --dry-run)', () => {
    expect(setRestoreText({ ...plan, dryRun: true })).toEqual([
      'app: run r1 from local (2 item(s), 2025-01-02T03:04:05Z)',
      '  mode: merge — files at a target that are not in the run stay there (--exact moves them aside)',
      '  would stop: systemctl stop app',
      '  would restore /srv/up → /srv/up (overwrites files there)',
      '  would restore database app → app (exists: --clean in one transaction)',
      '  would restore database log → log_new (new database)',
      '  would start: systemctl start app (also if the restore fails)',
    ]);
    expect(setRestoreText({ ...plan, dryRun: false })[2]).toBe('  stop: systemctl stop app');
  });

  it('--only and the exact mode: what is not in the run, listed by the dry run, counted by the real one', () => {
    const files = {
      kind: 'files',
      snapshotId: 's1',
      path: '/srv/up',
      target: '/srv/up',
      overwrites: true,
      notInRun: ['late.txt', 'new-dir'],
    } as const;
    const exact = {
      ...plan,
      mode: 'exact',
      only: ['uploads'],
      stop: [],
      start: [],
      steps: [{ ...files, aside: '/srv/up.snapkeep-moved-20250102T030405Z' }],
    } as const;
    expect(setRestoreText({ ...exact, dryRun: true })).toEqual([
      'app: run r1 from local (2 item(s), 2025-01-02T03:04:05Z)',
      '  only: uploads (the other sources are not touched)',
      '  mode: exact — what is at a target and not in the run is moved aside (never deleted), then the run is restored',
      '  would restore /srv/up → /srv/up (overwrites files there; 2 not in the run: moved aside to /srv/up.snapkeep-moved-20250102T030405Z)',
      '    would move aside: late.txt',
      '    would move aside: new-dir',
    ]);
    expect(setRestoreText({ ...exact, dryRun: false }).slice(3)).toEqual([
      '  restore /srv/up → /srv/up (overwrites files there; 2 not in the run: moved aside to /srv/up.snapkeep-moved-20250102T030405Z)',
    ]);
    expect(setRestoreText({ ...plan, stop: [], start: [], steps: [files], dryRun: true }).slice(1)).toEqual([
      '  mode: merge — files at a target that are not in the run stay there (--exact moves them aside)',
      '  would restore /srv/up → /srv/up (overwrites files there; 2 not in the run: they stay)',
      '    stays: late.txt',
      '    stays: new-dir',
    ]);
    // No files restored (--only database): no mode to speak of.
    expect(
      setRestoreText({ ...plan, only: ['database'], steps: plan.steps.slice(1), dryRun: false })[1],
    ).toBe('  only: database (the other sources are not touched)');
    expect(
      setRestoreText({ ...plan, only: ['database'], steps: plan.steps.slice(1), dryRun: false })[2],
    ).toBe('  stop: systemctl stop app');
    expect(
      setRestoreText({
        type: 'moved-aside',
        target: '/srv/up',
        directory: '/srv/up.snapkeep-moved-20250102T030405Z',
        count: 2,
        paths: ['late.txt', 'new-dir'],
      }),
    ).toEqual(['ok   moved aside 2 not in the run: /srv/up → /srv/up.snapkeep-moved-20250102T030405Z']);
  });

  it('steps, the end, and the dry run saying whether the real run needs consent to overwrite', () => {
    expect(
      setRestoreText({ type: 'step', ok: true, kind: 'files', what: '/a → /b', durationMs: 2500 }),
    ).toEqual(['ok   restored /a → /b [2.50s]']);
    expect(setRestoreText({ type: 'step', ok: true, kind: 'stop', what: 'systemctl stop app' })).toEqual([
      'ok   stop: systemctl stop app',
    ]);
    expect(setRestoreText({ type: 'step', ok: false, kind: 'start', what: 'false' })).toEqual([]);
    expect(setRestoreText({ type: 'restored', set: 'app', run: 'r1', repository: 'local' })).toEqual([
      'restored app run r1',
    ]);
    const summary = { type: 'summary', command: 'restore', dryRun: true, exitCode: 0 } as const;
    expect(setRestoreText({ ...summary, overwriteNeedsConsent: false })).toEqual([
      'dry run: nothing changed',
    ]);
    expect(setRestoreText({ ...summary, overwriteNeedsConsent: true })).toEqual([
      'dry run: nothing changed (the real run asks before overwriting on a terminal; elsewhere it needs --yes)',
    ]);
  });

  it('restore points: no line each (the table is the text), an unreachable repository on stderr', () => {
    expect(
      restorePointText({
        type: 'restore-point',
        set: 'app',
        run: 'r1',
        date: 'd',
        location: 'local',
        items: 2,
      }),
    ).toEqual([]);
    expect(
      restorePointText({
        type: 'unreachable',
        set: 'app',
        repository: 'rest',
        error: 'refused',
        exitCode: 10,
      }),
    ).toEqual([toStderr('UNREACHABLE: app → rest: refused')]);
  });
});

describe('prune of backup sets', () => {
  const where = { set: 'app', repository: 'local' };
  it('every decision with its reason, the deletion, errors on stderr, the dry run count', () => {
    const decision = {
      type: 'decision',
      ...where,
      run: 'r1',
      reason: 'keep_last 1 (#1)',
      snapshotIds: [],
    } as const;
    expect(setPruneText({ ...decision, dryRun: true, action: 'keep' })).toEqual([
      'app in local: keep run r1 (keep_last 1 (#1))',
    ]);
    expect(
      setPruneText({ ...decision, dryRun: true, action: 'delete', reason: 'no keep rule matched' }),
    ).toEqual(['app in local: would delete run r1 (no keep rule matched)']);
    expect(setPruneText({ ...decision, dryRun: false, action: 'delete' })[0]).toBe(
      'app in local: delete run r1 (keep_last 1 (#1))',
    );
    expect(
      setPruneText({
        type: 'note',
        set: 'app',
        repository: 'off',
        appendOnly: true,
        adminCommand: 'restic forget …',
      }),
    ).toEqual([
      'app in off: append-only (repositories.off.append_only), so this identity cannot delete. Run instead:\n  restic forget …',
    ]);
    expect(
      setPruneText({ type: 'prune-error', ...where, stage: 'forget', error: 'locked', exitCode: 3 }),
    ).toEqual([toStderr('ERROR: app in local: locked')]);
    expect(setPruneText({ type: 'pruned', ...where, deletedRuns: ['r1', 'r2'] })).toEqual([
      'app in local: deleted 2 run(s), unused data pruned',
    ]);
    expect(setPruneText({ type: 'sets-pruned', dryRun: true, runs: 2 })).toEqual([
      'dry run: 2 backup-set run(s) would be deleted, nothing changed',
    ]);
    expect(setPruneText({ type: 'sets-pruned', dryRun: false, runs: 2 })).toEqual([]);
  });
});

describe('verify', () => {
  it('checks: the part read, ok or FAIL with the error on stderr', () => {
    expect(verifyText({ type: 'plan', repository: 'local', subset: '2/7' })).toEqual([
      'would check local: structure and pack data 2/7',
    ]);
    const check = { type: 'check', repository: 'local', subset: '1/2', durationMs: 3000 } as const;
    expect(
      verifyText({ ...check, status: 'ok', detail: 'structure and pack data 1/2 read and verified' }),
    ).toEqual(['ok   local: structure and pack data 1/2 read and verified [3.00s]']);
    expect(verifyText({ ...check, status: 'fail', detail: 'pack damaged' })).toEqual([
      'FAIL local: pack damaged [3.00s]',
      toStderr('ERROR: local: pack damaged'),
    ]);
    expect(verifyText({ type: 'summary', command: 'verify', dryRun: true, exitCode: 0 })).toEqual([
      'dry run: nothing changed',
    ]);
    expect(verifyText({ type: 'summary', command: 'verify', dryRun: false, exitCode: 0 })).toEqual([]);
  });

  it('the restic drill: its plan and each finding', () => {
    expect(verifyText({ type: 'drill-plan', kind: 'restic', set: 'app', repository: 'local' })).toEqual([
      'would drill app: restore its latest run from local into a scratch directory and scratch databases, and compare',
    ]);
    expect(
      verifyText({
        type: 'drill',
        kind: 'restic',
        set: 'app',
        repository: 'offsite',
        ok: true,
        detail: 'database app of run r1: 3 tables',
      }),
    ).toEqual(['ok   app@offsite: drill: database app of run r1: 3 tables']);
    expect(
      verifyText({
        type: 'drill',
        kind: 'restic',
        set: 'app',
        repository: 'local',
        ok: false,
        detail: 'no complete run to restore in local',
      }),
    ).toEqual(['FAIL app@local: drill: no complete run to restore in local']);
  });

  it('the btrfs drill: plan, skip, leftovers, the outcome (errors on stderr), progress on the TTY line', () => {
    const plan = {
      type: 'drill-plan',
      kind: 'btrfs',
      subvolume: 'data',
      target: 'disk',
      reason: 'never drilled',
    } as const;
    expect(verifyText({ ...plan, dryRun: true, snapshot: undefined })).toEqual([
      'would drill data@disk: never drilled',
    ]);
    expect(
      verifyText({
        ...plan,
        dryRun: false,
        snapshot: 'data.20250101',
        host: 'backup@host',
        copy: '/b/data.20250101',
        copyReason: 'the newest copy',
        scratch: '/s/.snapkeep-drill.data.X',
        compareWith: '/s/data.20250101',
        relation: 'name',
      }),
    ).toEqual([
      'drill data@disk: receive data.20250101 from disk (backup@host:/b/data.20250101) in full into /s/.snapkeep-drill.data.X, compare every file with /s/data.20250101, delete the scratch copy (never drilled; the newest copy)',
    ]);
    expect(verifyText({ type: 'drill-skip', subvolume: 'data', reason: 'pull mode' })).toEqual([
      'skip data: drill: pull mode',
    ]);
    expect(verifyText({ type: 'drill-leftover', path: '/s/x', ok: true, dryRun: true })).toEqual([
      'would remove /s/x (scratch left by a killed drill)',
    ]);
    expect(verifyText({ type: 'drill-leftover', path: '/s/x', ok: true })).toEqual([
      'ok   drill: removed /s/x (scratch left by a killed drill)',
    ]);
    expect(verifyText({ type: 'drill-leftover', path: '/s/x', ok: false, error: 'busy' })).toEqual([
      toStderr('WARNING: cannot remove drill scratch /s/x: busy'),
    ]);
    const outcome = {
      type: 'drill',
      kind: 'btrfs',
      subvolume: 'data',
      target: 'disk',
      compared: true,
      durationMs: 1500,
    } as const;
    expect(verifyText({ ...outcome, ok: true, detail: '12 files equal' })).toEqual([
      'ok   data@disk: drill: 12 files equal [1.50s]',
    ]);
    expect(verifyText({ ...outcome, ok: false, detail: 'a differs' })).toEqual([
      'FAIL data@disk: drill: a differs [1.50s]',
      toStderr('ERROR: data@disk: drill: a differs'),
    ]);
    expect(
      verifyText({ type: 'drill-progress', subvolume: 'data', target: 'disk', bytes: 10, elapsedMs: 20 }),
    ).toEqual([{ progress: { label: 'drill data@disk', bytes: 10, elapsedMs: 20 } }]);
  });
});

describe('infra', () => {
  const outputs = {
    type: 'infra-outputs',
    host: '192.0.2.1',
    user: 'snapkeep',
    targetUrl: 'ssh://snapkeep@192.0.2.1/mnt/backup',
    region: 'eu-central-1',
    instanceId: 'i-1',
    volumeId: 'vol-1',
    volumeName: 'snapkeep-backup',
    bucket: undefined,
    mountPoint: '/mnt/backup',
  } as const;

  it('`infra output` lists the outputs; apply says in one line what it made', () => {
    expect(infraText('output')(outputs)).toEqual([
      'host        192.0.2.1',
      'user        snapkeep',
      'targetUrl   ssh://snapkeep@192.0.2.1/mnt/backup',
      'region      eu-central-1',
      'instanceId  i-1',
      'volumeId    vol-1',
      'volumeName  snapkeep-backup',
      'mountPoint  /mnt/backup',
    ]);
    expect(infraText('apply')(outputs)).toEqual([
      'instance i-1 (eu-central-1) at 192.0.2.1; volume snapkeep-backup (vol-1)',
    ]);
  });

  it('init says what is next only for `infra init`; plan, cost and the dry runs', () => {
    const init = { type: 'infra-init', workingDir: '/w', tool: 'tofu' } as const;
    expect(infraText('init')(init)).toEqual(['ready: snapkeep infra plan shows what apply would create']);
    expect(infraText('apply')(init)).toEqual([]);
    expect(
      infraText('plan')({ type: 'infra-module', workingDir: '/w', variablesFile: 'v.json', tool: 'tofu' }),
    ).toEqual(['module copied to /w (variables in v.json); running tofu init']);
    expect(
      infraText('plan')({
        type: 'infra-plan',
        destroy: false,
        summary: 'Plan: 1 to add',
        plan: 'the plan\nPlan: 1 to add',
      }),
    ).toEqual(['the plan\nPlan: 1 to add']);
    const cost = infraText('plan')({
      type: 'infra-cost',
      lines: [{ what: 'EC2 t4g.nano', usdPerMonth: 3.07 }],
      totalUsdPerMonth: 3.07,
      notes: [],
    });
    expect(cost[0]).toBe('Estimated monthly cost:');
    expect(cost[1]).toMatch(/^ {2}EC2 t4g\.nano +3\.07 USD$/);
    expect(
      infraText('apply')({ type: 'summary', command: 'infra-apply', dryRun: true, exitCode: 0 }),
    ).toEqual(['dry run: nothing applied']);
    expect(
      infraText('destroy')({ type: 'summary', command: 'infra-destroy', dryRun: true, exitCode: 0 }),
    ).toEqual(['dry run: nothing destroyed']);
  });

  it('apply: SSH, smoke tests, the config written or not (on stderr)', () => {
    const text = infraText('apply');
    expect(text({ type: 'infra-ssh-wait', host: 'h', port: 22, waitSeconds: 300 })).toEqual([
      'waiting for h:22 to answer over SSH (up to 300 s)…',
    ]);
    expect(
      text({
        type: 'infra-ssh',
        host: 'h',
        port: 22,
        knownHosts: '/w/known_hosts',
        attempts: 2,
        fingerprints: '256 SHA256:x h (ED25519)',
      }),
    ).toEqual([
      'host key recorded in /w/known_hosts (trusted on first use, seconds after the instance was made):\n256 SHA256:x h (ED25519)',
    ]);
    expect(text({ type: 'smoke-retry', failing: ['login', 'filter'], retrySeconds: 10 })).toEqual([
      'smoke tests: not yet (login, filter); the instance may still be booting, again in 10 s',
    ]);
    expect(text({ type: 'smoke-tests', ok: true, failed: [] })).toEqual(['smoke tests:']);
    expect(
      text({
        type: 'check',
        group: 'ssh',
        check: 'login',
        title: 'login',
        status: 'OK',
        detail: 'as snapkeep',
      }),
    ).toEqual(['  OK    login: as snapkeep']);
    expect(text({ type: 'infra-smoke-failed', failed: ['filter'] })).toEqual([
      toStderr(
        'the target does not pass its smoke tests (filter); the config was not changed. Fix what is shown above, then: snapkeep doctor ssh, and snapkeep infra apply again (it changes nothing that exists)',
      ),
    ]);
    expect(
      text({
        type: 'infra-config',
        target: 'aws',
        path: 'ssh://h/b',
        configPath: '/c.yaml',
        connectionEnv: '/w/aws_connection.env',
      }),
    ).toEqual([
      'target "aws" written to /c.yaml (ssh://h/b; previous file: /c.yaml.before-infra)\nconnection details for the original scripts: /w/aws_connection.env\nnext: add "aws" to a subvolume\'s targets: and run snapkeep run; check any time with snapkeep doctor',
    ]);
  });

  it('destroy: what goes first (the bucket stays), then where the target still is', () => {
    const text = infraText('destroy');
    expect(
      text({
        type: 'infra-destroy-warning',
        instance: 'i-1',
        volume: 'vol-1',
        volumeName: 'v',
        region: 'r',
        bucket: 'b',
      }),
    ).toEqual([
      'This deletes instance i-1 and volume v (vol-1) in r.\nEVERY BACKUP ON THAT VOLUME IS DELETED WITH IT; there is no undo.\nThe bucket b keeps its objects (Object Lock): AWS refuses to delete a bucket that is not empty.',
    ]);
    expect(
      text({
        type: 'infra-destroyed',
        instance: 'i-1',
        volume: 'vol-1',
        target: 'aws',
        configPath: '/c.yaml',
      }),
    ).toEqual([
      'destroyed. The target "aws" is still in /c.yaml: remove it (and from subvolumes\' targets) before the next run.',
    ]);
  });
});
