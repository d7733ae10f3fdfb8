// doctor's volume decisions: mounted, btrfs, space, leftovers — from mountinfo and btrfs output.
import { describe, expect, it } from 'vitest';
import {
  parseBtrfsUsage,
  usagePercent,
  volumeChecks,
  type VolumeObservations,
} from '../../../src/doctor/volume-checks.js';

const mountinfo = (...lines: string[]): string => `${lines.join('\n')}\n`;
const rootExt4 = '22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw';
const backupBtrfs = '40 22 0:45 / /mnt/backup rw,relatime shared:20 - btrfs /dev/nvme1n1 rw,space_cache=v2';
const backupExt4 = '40 22 259:3 / /mnt/backup rw,relatime shared:20 - ext4 /dev/nvme1n1 rw';

const base: VolumeObservations = {
  target: 'offsite',
  host: 'backup.example',
  path: '/mnt/backup/laptop',
  exists: true,
  resolvedPath: '/mnt/backup/laptop',
  mountinfo: mountinfo(rootExt4, backupBtrfs),
  usage: { usedBytes: 10 * 1024 ** 3, freeBytes: 90 * 1024 ** 3 },
  subvolumes: { ok: true, garbage: [], copies: 3 },
};
const byCheck = (observed: VolumeObservations) =>
  Object.fromEntries(volumeChecks(observed).map((result) => [result.check, result]));

describe('volume usage', () => {
  it('used / (used + free estimated), as df shows it', () => {
    const usage = parseBtrfsUsage(
      'Overall:\n    Device size:\t\t 536870912\n    Used:\t\t\t 393216\n    Free (estimated):\t\t 452984832\t(min: 230686720)\n',
    );
    expect(usage).toEqual({ usedBytes: 393216, freeBytes: 452984832 });
    expect(usagePercent(usage!)).toBeLessThan(0.1);
  });
});

describe('volumeChecks', () => {
  it('a healthy btrfs volume: all OK', () => {
    expect(volumeChecks(base).map((result) => result.status)).toEqual(['OK', 'OK', 'OK', 'OK', 'OK']);
  });

  it('an expected mount point with nothing mounted: FAIL mounted, and the path on / is no btrfs', () => {
    const checks = byCheck({
      ...base,
      mountinfo: mountinfo(rootExt4),
      expectedMountPoint: '/mnt/backup',
      aws: true,
    });
    expect(checks.mounted?.status).toBe('FAIL');
    expect(checks.mounted?.fix).toContain(
      'snapkeep doctor aws  (is the EBS volume attached to the instance?)',
    );
    expect(checks.btrfs?.status).toBe('FAIL');
    expect(checks.btrfs?.cause).toMatch(/not mounted, so the path falls through to the root filesystem/);
  });

  it('without an expected mount point, copies on the root filesystem are a warning', () => {
    const checks = byCheck({ ...base, mountinfo: mountinfo(rootExt4) });
    expect(checks.mounted?.status).toBe('WARN');
    expect(checks.btrfs?.status).toBe('FAIL');
  });

  it('a volume formatted as ext4: re-format (erases), with its device and mount point', () => {
    const checks = byCheck({ ...base, mountinfo: mountinfo(rootExt4, backupExt4) });
    expect(checks.mounted?.status).toBe('OK');
    expect(checks.btrfs?.fix?.[0]).toBe(
      'if it holds nothing you need, on backup.example: re-format it as btrfs — this ERASES it: umount /mnt/backup && mkfs.btrfs -f -L snapkeep /dev/nvme1n1 && mount /dev/nvme1n1 /mnt/backup, then mkdir -p /mnt/backup/laptop',
    );
  });

  it('space: WARN over 80 %, FAIL over 90 %', () => {
    const at = (percent: number) =>
      byCheck({ ...base, usage: { usedBytes: percent * 1024 ** 3, freeBytes: (100 - percent) * 1024 ** 3 } })
        .usage;
    expect(at(80)?.status).toBe('OK');
    expect(at(85)?.status).toBe('WARN');
    const full = at(95);
    expect(full?.status).toBe('FAIL');
    expect(full?.detail).toBe('95 % used, 5.00 GiB free of 100.0 GiB');
  });

  it('leftovers of interrupted receives: WARN with snapkeep clean', () => {
    const checks = byCheck({ ...base, subvolumes: { ok: true, garbage: ['home.20261122T0900'], copies: 2 } });
    expect(checks.garbage?.status).toBe('WARN');
    expect(checks.garbage?.fix?.[0]).toMatch(/^snapkeep clean/);
  });

  it('a local target on the filesystem of the data it keeps: not a backup (WARN)', () => {
    const checks = byCheck({ ...base, host: undefined, sameFilesystemAs: ['/home'] });
    expect(checks['separate-disk']?.status).toBe('WARN');
    expect(checks['separate-disk']?.detail).toBe(
      '/home and this target are on the same filesystem (/dev/nvme1n1)',
    );
  });

  it('a missing target directory on a mounted btrfs: mkdir on the host', () => {
    const checks = byCheck({
      ...base,
      exists: false,
      resolvedPath: undefined,
      usage: undefined,
      subvolumes: undefined,
    });
    expect(checks.directory?.status).toBe('FAIL');
    expect(checks.directory?.fix?.[0]).toMatch(/^on backup\.example: mkdir -p \/mnt\/backup\/laptop/);
  });
});
