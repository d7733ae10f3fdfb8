// What reaches a remote shell: safe words only, and the grammar's one fixed request verbatim.
import { describe, expect, it } from 'vitest';
import { remoteRequest, UnsafeRemoteArgument } from '../../../src/remote/remote-request.js';

describe('remoteRequest', () => {
  it('joins safe words and puts sudo before privileged commands', () => {
    expect(
      remoteRequest({ file: 'btrfs', args: ['subvolume', 'list', '-r', '/srv/b'] }, { sudo: true }),
    ).toBe('sudo -n btrfs subvolume list -r /srv/b');
    expect(remoteRequest({ file: 'readlink', args: ['-e', '/srv/b'] }, { sudo: true })).toBe(
      'readlink -e /srv/b',
    );
  });

  it('sends `date -u +%s` as is, and nothing else with a % or other unsafe character', () => {
    expect(remoteRequest({ file: 'date', args: ['-u', '+%s'] }, { sudo: true })).toBe('date -u +%s');
    for (const args of [['+%s'], ['-u', '+%s', 'x'], ['-u', '+%s;id'], ['-s', '@0 %s']])
      expect(() => remoteRequest({ file: 'date', args }, { sudo: false })).toThrow(UnsafeRemoteArgument);
    expect(() =>
      remoteRequest({ file: 'btrfs', args: ['subvolume', 'list', '/a b'] }, { sudo: false }),
    ).toThrow(/only A-Z a-z 0-9/);
  });
});
