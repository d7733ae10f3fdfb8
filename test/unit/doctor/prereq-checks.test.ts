// doctor's tool checks for util-linux: without flock no run can take its lock (FAIL); without
// setpriv snapkeep runs, but its children are not bound to it (WARN, with why).
import { describe, expect, it } from 'vitest';
import { prereqChecks, type PrereqObservations, type Tool } from '../../../src/doctor/prereq-checks.js';

const needs: Record<Tool, boolean> = {
  btrfs: false,
  flock: true,
  setpriv: true,
  restic: false,
  ssh: false,
  zstd: false,
  pg_dump: false,
  tofu: false,
};

function observed(tools: PrereqObservations['tools']): PrereqObservations {
  return {
    config: { ok: false, message: 'no configuration' },
    tools,
    needs,
    euid: 0,
    subvolumes: [],
    clock: { now: new Date('2026-12-02T12:00:00Z') },
  };
}

const missing = { found: false, error: 'flock: command not found' };
const found = { found: true, version: 'found 2.38.1' };

describe('util-linux tools in doctor', () => {
  it('flock missing is a FAIL, setpriv missing a WARN; each says why and how to install it', () => {
    const results = prereqChecks(observed({ btrfs: found, flock: missing, setpriv: missing }));
    const flock = results.find((result) => result.check === 'flock')!;
    const setpriv = results.find((result) => result.check === 'setpriv')!;
    expect(flock).toMatchObject({ status: 'FAIL', fix: ['apt install util-linux'] });
    expect(flock.cause).toMatch(/run lock/);
    expect(setpriv).toMatchObject({ status: 'WARN', fix: ['apt install util-linux'] });
    expect(setpriv.cause).toMatch(/outlive a killed run/);
  });

  it('both found: OK with their versions', () => {
    const results = prereqChecks(observed({ btrfs: found, flock: found, setpriv: found }));
    expect(results.filter((result) => ['flock', 'setpriv'].includes(result.check))).toMatchObject([
      { status: 'OK', detail: 'found 2.38.1' },
      { status: 'OK', detail: 'found 2.38.1' },
    ]);
  });
});
