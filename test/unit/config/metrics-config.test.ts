// `metrics:`: validated with the file, line, key and what is expected; resolved with its default
// (only scheduled runs write the textfile); the schedule units may write the directory.
import { describe, expect, it } from 'vitest';
import { ConfigError, formatConfigIssue, parseConfigText } from '../../../src/config/load-config.js';
import { readWritePathsOf } from '../../../src/schedule/systemd-units.js';

const file = '/etc/snapkeep/test.yaml';
const base = `targets:
  usb:
    path: /mnt/usb
subvolumes:
  home:
    path: /mnt/root/@home
    targets: [usb]
`;

function messagesFor(text: string): string[] {
  try {
    parseConfigText(text, file);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map(formatConfigIssue);
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('metrics: in the config', () => {
  it('resolves to no textfile by default, and to scheduled runs when only the directory is set', () => {
    expect(parseConfigText(base, file).resolved.metrics).toEqual({ textfileRuns: 'scheduled' });
    const configured = parseConfigText(
      `${base}metrics:\n  textfile_dir: /var/lib/prometheus/node-exporter/\n`,
      file,
    );
    expect(configured.resolved.metrics).toEqual({
      textfileDir: '/var/lib/prometheus/node-exporter',
      textfileRuns: 'scheduled',
    });
    expect(
      parseConfigText(`${base}metrics:\n  textfile_dir: /srv/tf\n  textfile_runs: all\n`, file).resolved
        .metrics,
    ).toEqual({ textfileDir: '/srv/tf', textfileRuns: 'all' });
  });

  it('refuses a relative directory, an unknown kind of runs and an unknown key, naming line and key', () => {
    expect(messagesFor(`${base}metrics:\n  textfile_dir: node-exporter\n`)).toEqual([
      expect.stringMatching(/^\/etc\/snapkeep\/test\.yaml:9:17: metrics\.textfile_dir: .*absolute/),
    ]);
    expect(messagesFor(`${base}metrics:\n  textfile_runs: manual\n`)).toEqual([
      expect.stringMatching(
        /^\/etc\/snapkeep\/test\.yaml:9:18: metrics\.textfile_runs: .*"manual".*expected .*scheduled.*all/,
      ),
    ]);
    expect(messagesFor(`${base}metrics:\n  textfile: /srv/tf\n`)).toEqual([
      expect.stringMatching(
        /^\/etc\/snapkeep\/test\.yaml:9:3: metrics\.textfile: unknown key "textfile" \(expected one of: textfile_dir, textfile_runs\)$/,
      ),
    ]);
  });

  it('the hardened schedule units may write the textfile directory', () => {
    const { resolved } = parseConfigText(
      `${base}metrics:\n  textfile_dir: /var/lib/prometheus/node-exporter\n`,
      file,
    );
    expect(readWritePathsOf(resolved)).toContain('/var/lib/prometheus/node-exporter');
    expect(readWritePathsOf(parseConfigText(base, file).resolved)).not.toContain(
      '/var/lib/prometheus/node-exporter',
    );
  });
});
