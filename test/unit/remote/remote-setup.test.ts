// The pure parts of remote setup: how a second setup rewrites authorized_keys, which sudo
// understands the rule, and host key fingerprints as ssh-keygen prints them.
import { describe, expect, it } from 'vitest';
import { keyFingerprint, lineFingerprint } from '../../../src/remote/host-key.js';
import {
  authorizedKeysLine,
  installedFilterPath,
  parseAuthorizedKeysLine,
  replaceKeyLine,
  sudoersRule,
  sudoSupportsRegex,
} from '../../../src/remote/remote-setup.js';

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr laptop';
const other = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDr6Ow7zqnTnWE1Go7+1sUkGgdkzpQdQqkrAHmqpKUhL admin';

describe('authorized_keys', () => {
  it('reads the key behind options, quoted ones with blanks and escaped quotes included', () => {
    expect(parseAuthorizedKeysLine(key)).toEqual({ options: '', key: key.split(' ').slice(0, 2).join(' ') });
    expect(parseAuthorizedKeysLine(`command="echo \\"a b\\" c",from="10.0.0.1" ${key}`)?.key).toBe(
      key.split(' ').slice(0, 2).join(' '),
    );
    expect(parseAuthorizedKeysLine('# a comment')).toBeUndefined();
    expect(parseAuthorizedKeysLine('   ')).toBeUndefined();
    expect(parseAuthorizedKeysLine('garbage here')).toBeUndefined();
  });

  it('a second setup replaces the key line in place, whatever its options; the rest stays byte for byte', () => {
    const first = authorizedKeysLine({ roots: ['/mnt/a'] }, key);
    const second = authorizedKeysLine({ roots: ['/mnt/b'], filterPath: '/opt/filter' }, key);
    const existing = `# mine\n${other}\n${first}\n\nno-pty ${key}\n`;
    const result = replaceKeyLine(existing, second);
    expect(result.replaced).toBe(2);
    expect(result.content).toBe(`# mine\n${other}\n${second}\n\n`);
    expect(replaceKeyLine(result.content, second).content).toBe(result.content);
  });

  it('appends when the key has no line (and to a file without a final newline)', () => {
    const line = authorizedKeysLine({ roots: ['/mnt/a'] }, key);
    expect(replaceKeyLine('', line)).toEqual({ content: `${line}\n`, replaced: 0 });
    expect(replaceKeyLine(other, line).content).toBe(`${other}\n${line}\n`);
  });

  it('keeps the filter path of the key line sshd uses (the first), only from a snapkeep line', () => {
    const custom = authorizedKeysLine({ roots: ['/mnt/a'], filterPath: '/opt/snapkeep/filter' }, key);
    expect(installedFilterPath(`${other}\n${custom}\n`, key)).toBe('/opt/snapkeep/filter');
    expect(installedFilterPath(`command="/bin/sh -c x" ${key}\n${custom}\n`, key)).toBeUndefined();
    expect(installedFilterPath(`${key}\n`, key)).toBeUndefined();
    expect(installedFilterPath(`${other}\n`, key)).toBeUndefined();
  });
});

describe('sudoers rule', () => {
  it('needs sudo 1.9.10 for its regular expressions', () => {
    expect(sudoSupportsRegex('Sudo version 1.9.13p3\nSudoers policy plugin version 1.9.13p3')).toBe(true);
    expect(sudoSupportsRegex('Sudo version 1.9.10')).toBe(true);
    expect(sudoSupportsRegex('Sudo version 1.9.9')).toBe(false);
    expect(sudoSupportsRegex('Sudo version 1.8.31')).toBe(false);
    expect(sudoSupportsRegex('Sudo version 2.0.0')).toBe(true);
    expect(sudoSupportsRegex('sudo-rs 0.2.3')).toBeUndefined();
  });

  it('refuses roots that would exceed sudo’s 1024-character pattern limit', () => {
    const roots = Array.from(
      { length: 12 },
      (_, index) => `/mnt/backup/a-rather-long-directory-name-${index}`,
    );
    expect(() => sudoersRule({ user: 'snapkeep', roots })).toThrow(/limit of 1024/);
  });
});

describe('host key fingerprints', () => {
  it('match ssh-keygen -l', () => {
    // echo '<key>' | ssh-keygen -lf -
    expect(lineFingerprint(key)).toEqual({
      type: 'ssh-ed25519',
      fingerprint: 'SHA256:CyHdHfoj2pmg9Fe7pdS8wRdaQS4quX5ili2mZdGUDPg',
    });
    expect(lineFingerprint(`[127.0.0.1]:2222 ${key}`)?.fingerprint).toBe(keyFingerprint(key.split(' ')[1]!));
    expect(lineFingerprint('# 127.0.0.1:22 SSH-2.0-OpenSSH_9.2')).toBeUndefined();
  });
});
