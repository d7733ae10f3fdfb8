// The shipped alert rules (share/prometheus/snapkeep.rules.yml) with Prometheus's own tool:
// `promtool check rules` accepts them and `promtool test rules` runs their unit tests (each
// alert firing and not firing). The rules name only metrics snapkeep writes, and README's
// Metrics section lists every metric and every alert, so neither can drift from the code.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCommand } from '../../src/exec/command.js';
import { metricFamilies } from '../../src/metrics/status-metrics.js';
import { expectExit } from '../helpers/cli.js';
import { requireTools } from '../helpers/loop-btrfs.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const rulesPath = join(root, 'share', 'prometheus', 'snapkeep.rules.yml');
const testsPath = join(root, 'share', 'prometheus', 'snapkeep.rules.test.yml');

interface RuleFile {
  readonly groups: readonly {
    readonly rules: readonly { readonly alert: string; readonly expr: string }[];
  }[];
}

const rules = async (): Promise<RuleFile['groups'][number]['rules']> =>
  (parse(await readFile(rulesPath, 'utf8')) as RuleFile).groups.flatMap((group) => group.rules);

beforeAll(async () => {
  await requireTools(['promtool']);
});

describe('the shipped Prometheus rules', () => {
  it('promtool check rules accepts them', async () => {
    const result = await runCommand({ file: 'promtool', args: ['check', 'rules', rulesPath] });
    expectExit(result, 0);
    expect(result.stdout).toContain(`SUCCESS: ${(await rules()).length} rules found`);
  });

  it('promtool test rules: every alert fires when it should and not otherwise', async () => {
    const result = await runCommand({ file: 'promtool', args: ['test', 'rules', testsPath] });
    expectExit(result, 0);
    expect(result.stdout).toContain('SUCCESS');
    // Each alert is tested.
    const tested = new Set(
      [...(await readFile(testsPath, 'utf8')).matchAll(/alertname: (\S+)/g)].map((match) => match[1]),
    );
    expect([...tested].sort()).toEqual((await rules()).map((rule) => rule.alert).sort());
  });

  it('name only metrics snapkeep writes (or node_exporter’s textfile collector)', async () => {
    const written = new Set<string>(Object.values(metricFamilies).map((family) => family.name));
    const named = (await rules()).flatMap((rule) => [
      ...rule.expr.matchAll(/\b(snapkeep_[a-z_]+|node_[a-z_]+)\b/g),
    ]);
    expect(named.length).toBeGreaterThan(8);
    for (const [name] of named)
      if (name.startsWith('snapkeep_')) expect(written, name).toContain(name);
      else expect(['node_textfile_mtime_seconds', 'node_textfile_scrape_error']).toContain(name);
  });

  it('README lists every metric and every alert', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('### Metrics for Prometheus'),
      readme.indexOf('## Architecture'),
    );
    for (const family of Object.values(metricFamilies))
      expect(section, family.name).toContain(`| \`${family.name}\` |`);
    for (const rule of await rules()) expect(section, rule.alert).toContain(`| \`${rule.alert}\` |`);
  });
});
