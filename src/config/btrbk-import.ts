// `snapkeep config import-btrbk FILE`: a btrbk.conf turned into a snapkeep configuration that
// takes over the same snapshots and copies (same directories, same basenames, same retention),
// with every option that has no snapkeep equivalent listed instead of dropped silently.
//
// btrbk's rules, as btrbk.conf(5) states them and `btrbk list config` confirms (the test uses it
// as the oracle): an option applies to the last section line seen (global, volume, subvolume,
// target); a value is looked up target section → subvolume → volume → global; a `target` line
// belongs to the last section — after a `subvolume` line it is that subvolume's, before any it is
// the volume's (then every subvolume of that volume is sent there), before any volume it is
// global. btrbk's own defaults are written out explicitly, because snapkeep's differ (btrbk
// keeps everything unless told otherwise; snapkeep's built-in retention deletes).
import { basename } from 'node:path';
import { stringify } from 'yaml';
import { parsePreserveMatrix, parsePreserveMinimum } from '../retention/preserve-policy.js';
import { snapshotBasenamePattern } from '../snapshot-name.js';

/** An option or section that the import could not carry over, with btrbk.conf's line. */
export interface Untranslated {
  readonly line: number;
  readonly text: string;
  readonly reason: string;
}

/** `line N: TEXT — REASON` (no line for what btrbk's defaults imply). */
export function describeUntranslated(entry: Untranslated): string {
  return `${entry.line > 0 ? `line ${entry.line}: ` : ''}${entry.text} — ${entry.reason}`;
}

export interface BtrbkImport {
  /** The snapkeep configuration (YAML with a commented header). */
  readonly yaml: string;
  readonly untranslated: readonly Untranslated[];
  readonly subvolumes: number;
  readonly targets: number;
}

type Options = Map<string, { readonly value: string; readonly line: number }>;

interface Section {
  readonly options: Options;
  readonly line: number;
}

interface TargetSection extends Section {
  readonly url: string;
}

interface VolumeSection extends Section {
  /** undefined: subvolume lines with absolute paths and no volume line. */
  readonly url: string | undefined;
  readonly targets: TargetSection[];
  readonly subvolumes: SubvolumeSection[];
}

interface SubvolumeSection extends Section {
  readonly name: string;
  readonly volume: VolumeSection;
  readonly targets: TargetSection[];
}

const btrbkDefaults: Readonly<Record<string, string>> = {
  timestamp_format: 'long',
  snapshot_create: 'always',
  snapshot_preserve_min: 'all',
  snapshot_preserve: 'no',
  target_preserve_min: 'all',
  target_preserve: 'no',
  preserve_day_of_week: 'sunday',
  preserve_hour_of_day: '0',
  ssh_user: 'root',
};

/** Options snapkeep reads; everything else set anywhere is reported. */
const translatedOptions = new Set([
  ...Object.keys(btrbkDefaults),
  'snapshot_dir',
  'snapshot_name',
  'ssh_identity',
  'ssh_cipher_spec',
  'stream_compress',
]);

/** Why an option has no equivalent (what snapkeep does instead). */
const untranslatedReasons: Readonly<Record<string, string>> = {
  lockfile: 'snapkeep always locks its state directory (state_dir/lock)',
  transaction_log: 'snapkeep journals every action in state_dir (see `snapkeep status`, `doctor logs`)',
  transaction_syslog: 'snapkeep journals in state_dir; scheduled runs log to the systemd journal',
  incremental: 'snapkeep always sends incrementally from the latest common snapshot and verifies every copy',
  noauto: 'no equivalent; limit scheduled jobs with `only:` under schedules:',
  group: 'no groups; name subvolumes on the command line or with `only:` under schedules:',
  archive_preserve: 'no `archive` command in snapkeep',
  archive_preserve_min: 'no `archive` command in snapkeep',
  archive_exclude: 'no `archive` command in snapkeep',
  ssh_compression: 'use ssh: {compression: zstd} for compressed streams',
  stream_buffer: 'no stream buffer (mbuffer) in snapkeep',
  stream_buffer_remote: 'no stream buffer (mbuffer) in snapkeep',
  rate_limit: 'no rate limit in snapkeep',
  rate_limit_remote: 'no rate limit in snapkeep',
  backend: 'snapkeep runs btrfs directly, or through `sudo -n` on ssh hosts (ssh: {sudo: true})',
  backend_local: 'snapkeep runs btrfs directly',
  backend_remote: 'snapkeep runs btrfs through `sudo -n` on ssh hosts unless the user is root (ssh: {sudo})',
  backend_local_user: 'snapkeep runs as root',
  compat: 'no compatibility options',
  compat_local: 'no compatibility options',
  compat_remote: 'no compatibility options',
  cache_dir: 'no `extents` command in snapkeep',
  incremental_prefs: 'snapkeep chooses the parent by its own rule (the latest common snapshot)',
  incremental_clones: 'snapkeep chooses clone sources by its own rule',
  incremental_resolve: 'snapkeep chooses the parent by its own rule',
  snapshot_qgroup_destroy: 'qgroups are not managed',
  target_qgroup_destroy: 'qgroups are not managed',
  archive_qgroup_destroy: 'qgroups are not managed',
  stream_compress_level: 'snapkeep runs zstd at its default level',
  stream_compress_long: 'snapkeep runs zstd at its default settings',
  stream_compress_threads: 'snapkeep runs zstd at its default settings',
  stream_compress_adapt: 'snapkeep runs zstd at its default settings',
  raw_target_compress: 'raw targets are not supported',
  raw_target_split: 'raw targets are not supported',
  raw_target_encrypt: 'raw targets are not supported',
  kdf_backend: 'raw targets are not supported',
  gpg_keyring: 'raw targets are not supported',
  gpg_recipient: 'raw targets are not supported',
  openssl_ciphername: 'raw targets are not supported',
  openssl_iv_size: 'raw targets are not supported',
  openssl_keyfile: 'raw targets are not supported',
};

/** Parse btrbk.conf into its sections; syntax problems are reported, never guessed at. */
function parseSections(text: string, untranslated: Untranslated[]) {
  const global: Section = { options: new Map(), line: 0 };
  const globalTargets: TargetSection[] = [];
  const volumes: VolumeSection[] = [];
  let volume: VolumeSection | undefined;
  let subvolume: SubvolumeSection | undefined;
  let current: Section = global;
  // Absolute subvolume lines before any volume line belong to this implicit volume.
  const implicitVolume = (): VolumeSection => {
    const found = volumes.find((entry) => entry.url === undefined);
    if (found) return found;
    const created: VolumeSection = {
      options: new Map(),
      line: 0,
      url: undefined,
      targets: [],
      subvolumes: [],
    };
    volumes.push(created);
    return created;
  };
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const [key = '', ...rest] = content.split(/\s+/);
    const value = rest.join(' ');
    const note = (reason: string): void => {
      untranslated.push({ line, text: content, reason });
    };
    if (key === 'volume') {
      volume = { options: new Map(), line, url: value, targets: [], subvolumes: [] };
      volumes.push(volume);
      subvolume = undefined;
      current = volume;
    } else if (key === 'subvolume') {
      const owner = volume ?? implicitVolume();
      subvolume = { options: new Map(), line, name: value, volume: owner, targets: [] };
      owner.subvolumes.push(subvolume);
      current = subvolume;
    } else if (key === 'target') {
      const [type, url] = rest.length >= 2 ? [rest[0], rest[1]] : ['send-receive', rest[0]];
      const target: TargetSection = { options: new Map(), line, url: url ?? '' };
      current = target;
      if (type !== 'send-receive') {
        note(`a ${type ?? ''} target: snapkeep sends only to btrfs (send-receive) targets; not translated`);
        return;
      }
      (subvolume ?? volume ?? { targets: globalTargets }).targets.push(target);
    } else if (value === '') {
      note(`"${key}" without a value: not understood`);
    } else {
      current.options.set(key, { value, line });
    }
  });
  return { global, globalTargets, volumes };
}

interface Location {
  readonly host?: string;
  readonly port?: number;
  readonly path: string;
}

/** btrbk's `ssh://host[:port]/dir` and `host:dir`; a local absolute path otherwise. */
function parseLocation(url: string): Location | undefined {
  const ssh = /^ssh:\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+))?(\/.*)$/.exec(url);
  if (ssh) return { host: ssh[1]!, ...(ssh[2] ? { port: Number(ssh[2]) } : {}), path: ssh[3]! };
  const short = /^(\[[^\]]+\]|[^/:]+):(\/.*)$/.exec(url);
  if (short) return { host: short[1]!, path: short[2]! };
  return url.startsWith('/') ? { path: url } : undefined;
}

const joinPath = (base: string, relative: string): string =>
  relative.startsWith('/') ? relative : `${base.replace(/\/+$/, '')}/${relative}`.replace(/\/+/g, '/');

const locationUrl = (location: Location, user: string | undefined): string =>
  location.host === undefined
    ? location.path
    : `ssh://${user && user !== 'no' ? `${user}@` : ''}${location.host}${location.port ? `:${location.port}` : ''}${location.path}`;

/** A snapkeep item name from a path or basename: letters, digits, "_", "." and "-". */
function itemNameFrom(text: string, taken: Set<string>): string {
  const stem = text.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+|-+$/g, '') || 'item';
  let name = stem;
  for (let counter = 2; taken.has(name); counter += 1) name = `${stem}-${counter}`;
  taken.add(name);
  return name;
}

interface Retention {
  preserve_min: string;
  preserve: string;
  preserve_day_of_week: string;
  preserve_hour_of_day: number;
}

const sameRetention = (left: Retention, right: Retention): boolean =>
  JSON.stringify(left) === JSON.stringify(right);

export function importBtrbkConfig(text: string, file: string): BtrbkImport {
  const untranslated: Untranslated[] = [];
  const { global, globalTargets, volumes } = parseSections(text, untranslated);

  // Options nobody translates, reported once per line where they are set.
  const allSections: Section[] = [
    global,
    ...globalTargets,
    ...volumes.flatMap((volume) => [
      volume,
      ...volume.targets,
      ...volume.subvolumes.flatMap((subvolume) => [subvolume, ...subvolume.targets]),
    ]),
  ];
  for (const section of allSections)
    for (const [key, { value, line }] of section.options)
      if (!translatedOptions.has(key))
        untranslated.push({
          line,
          text: `${key} ${value}`,
          reason: untranslatedReasons[key] ?? 'not a btrbk option snapkeep knows; not translated',
        });

  const lookup = (chain: readonly Section[], key: string): { value: string; line: number } =>
    chain.map((section) => section.options.get(key)).find((entry) => entry !== undefined) ?? {
      value: btrbkDefaults[key] ?? '',
      line: 0,
    };
  const retentionOf = (chain: readonly Section[], kind: 'snapshot' | 'target'): Retention | undefined => {
    const min = lookup(chain, `${kind}_preserve_min`);
    const matrix = lookup(chain, `${kind}_preserve`);
    const day = lookup(chain, 'preserve_day_of_week');
    const hour = lookup(chain, 'preserve_hour_of_day');
    const problems = [
      [min, parsePreserveMinimum(min.value)],
      [matrix, parsePreserveMatrix(matrix.value)],
    ] as const;
    for (const [entry, parsed] of problems)
      if (!parsed.ok) {
        untranslated.push({
          line: entry.line,
          text: entry.value,
          reason: `${parsed.error}; the default applies`,
        });
        return undefined;
      }
    return {
      preserve_min: min.value,
      preserve: matrix.value,
      preserve_day_of_week: day.value,
      preserve_hour_of_day: Number(hour.value),
    };
  };

  const globalChain = [global];
  const defaults = {
    timestamp_format: lookup(globalChain, 'timestamp_format').value,
    snapshot_create: lookup(globalChain, 'snapshot_create').value,
    snapshot_retention: retentionOf(globalChain, 'snapshot')!,
    target_retention: retentionOf(globalChain, 'target')!,
  };
  if (!['always', 'onchange'].includes(defaults.snapshot_create)) defaults.snapshot_create = 'always';

  const targetNames = new Set<string>();
  const subvolumeNames = new Set<string>();
  interface TargetOut {
    name: string;
    path: string;
    ssh: Record<string, string>;
    /** The effective retention of each pair that sends here. */
    pairs: { subvolume: string; retention: Retention }[];
  }
  const targets = new Map<string, TargetOut>();
  const subvolumes: Record<string, Record<string, unknown>> = {};
  const pairRetention = new Map<string, Map<string, Retention>>();
  const subvolumeLines = new Map<string, number>();

  const sshOf = (chain: readonly Section[], location: Location): Record<string, string> => {
    if (location.host === undefined) return {};
    const ssh: Record<string, string> = {};
    const identity = lookup(chain, 'ssh_identity').value;
    if (identity && identity !== 'no') ssh.identity_file = identity;
    const cipher = lookup(chain, 'ssh_cipher_spec').value;
    if (cipher && cipher !== 'default') ssh.cipher = cipher;
    const compress = lookup(chain, 'stream_compress');
    if (compress.value === 'zstd') ssh.compression = 'zstd';
    else if (compress.value && compress.value !== 'no')
      untranslated.push({
        line: compress.line,
        text: `stream_compress ${compress.value}`,
        reason: 'snapkeep compresses streams with zstd only (ssh: {compression: zstd}); not compressed',
      });
    return ssh;
  };

  for (const volume of volumes) {
    const volumeLocation = volume.url === undefined ? undefined : parseLocation(volume.url);
    if (volume.url !== undefined && !volumeLocation) {
      untranslated.push({
        line: volume.line,
        text: `volume ${volume.url}`,
        reason: 'not an absolute path or ssh:// URL; its subvolumes are not translated',
      });
      continue;
    }
    for (const subvolume of volume.subvolumes) {
      const chain = [subvolume, volume, global];
      const where = `subvolume ${subvolume.name}`;
      if (subvolume.name.includes('*')) {
        untranslated.push({
          line: subvolume.line,
          text: where,
          reason: 'a wildcard: btrbk expands it at every run; list the matching subvolumes one by one',
        });
        continue;
      }
      const base = volumeLocation?.path;
      if (base === undefined && !subvolume.name.startsWith('/')) {
        untranslated.push({
          line: subvolume.line,
          text: where,
          reason: 'a relative subvolume without a volume section',
        });
        continue;
      }
      const sourcePath = base === undefined ? subvolume.name : joinPath(base, subvolume.name);
      const snapshotDir = lookup(chain, 'snapshot_dir');
      if (snapshotDir.value === '') {
        // btrbk skips these too ("No snapshot_dir defined for subvolume").
        untranslated.push({
          line: subvolume.line,
          text: where,
          reason: 'no snapshot_dir: btrbk skips it too',
        });
        continue;
      }
      const snapshotName = subvolume.options.get('snapshot_name')?.value ?? basename(sourcePath);
      if (!snapshotBasenamePattern.test(snapshotName)) {
        untranslated.push({
          line: subvolume.line,
          text: where,
          reason: `snapshot name "${snapshotName}" is not one snapkeep accepts`,
        });
        continue;
      }
      const name = itemNameFrom(snapshotName, subvolumeNames);
      const location: Location = { ...volumeLocation, path: sourcePath };
      const names: string[] = [];
      const entry: Record<string, unknown> = {
        path: locationUrl(location, lookup(chain, 'ssh_user').value),
        snapshot_dir: joinPath(base ?? '/', snapshotDir.value),
        targets: names,
      };
      if (name !== snapshotName) entry.snapshot_name = snapshotName;
      const sourceSsh = sshOf(chain, location);
      if (Object.keys(sourceSsh).length > 0) entry.ssh = sourceSsh;
      const timestamp = lookup(chain, 'timestamp_format').value;
      if (timestamp !== defaults.timestamp_format) entry.timestamp_format = timestamp;
      const create = lookup(chain, 'snapshot_create');
      if (create.value === 'ondemand' || create.value === 'no')
        untranslated.push({
          line: create.line,
          text: `snapshot_create ${create.value} (${where})`,
          reason: `snapkeep has no "${create.value}": it creates snapshots ${defaults.snapshot_create === 'onchange' ? 'on change' : 'at every run'}`,
        });
      else if (create.value !== defaults.snapshot_create) entry.snapshot_create = create.value;
      const snapshotRetention = retentionOf(chain, 'snapshot');
      if (snapshotRetention && !sameRetention(snapshotRetention, defaults.snapshot_retention))
        entry.snapshot_retention = snapshotRetention;

      const retentions = new Map<string, Retention>();
      for (const target of [...subvolume.targets, ...volume.targets, ...globalTargets]) {
        const targetChain = [target, ...chain];
        const targetLocation = parseLocation(target.url);
        if (!targetLocation) {
          untranslated.push({
            line: target.line,
            text: `target ${target.url}`,
            reason: 'not an absolute path or ssh:// URL',
          });
          continue;
        }
        const path = locationUrl(targetLocation, lookup(targetChain, 'ssh_user').value);
        const ssh = sshOf(targetChain, targetLocation);
        const key = `${path}\n${JSON.stringify(ssh)}`;
        let out = targets.get(key);
        if (!out) {
          const label = targetLocation.host
            ? `${targetLocation.host}-${basename(targetLocation.path)}`
            : basename(targetLocation.path);
          out = { name: itemNameFrom(label, targetNames), path, ssh, pairs: [] };
          targets.set(key, out);
        }
        const retention = retentionOf(targetChain, 'target') ?? defaults.target_retention;
        out.pairs.push({ subvolume: name, retention });
        retentions.set(out.name, retention);
        if (!names.includes(out.name)) names.push(out.name);
      }
      subvolumes[name] = entry;
      pairRetention.set(name, retentions);
      subvolumeLines.set(name, subvolume.line);
    }
  }

  // snapkeep's precedence for a copy's retention: the subvolume's target_retention, else the
  // target's retention, else defaults. A target whose pairs all agree gets its own; else a
  // subvolume whose targets all agree carries its own, and the target takes what the other
  // subvolumes agree on; what neither can express is reported.
  const uniform = (retentions: Iterable<Retention>): Retention | undefined => {
    const values = [...retentions];
    return values.length > 0 && values.every((retention) => sameRetention(retention, values[0]!))
      ? values[0]
      : undefined;
  };
  const uniformSubvolumes = new Set(
    [...pairRetention].filter(([, retentions]) => uniform(retentions.values())).map(([name]) => name),
  );
  const targetsOut: Record<string, Record<string, unknown>> = {};
  const targetRetention = new Map<string, Retention>();
  for (const target of targets.values()) {
    const out: Record<string, unknown> = { path: target.path };
    if (Object.keys(target.ssh).length > 0) out.ssh = target.ssh;
    const agreed =
      uniform(target.pairs.map((pair) => pair.retention)) ??
      uniform(
        target.pairs.filter((pair) => !uniformSubvolumes.has(pair.subvolume)).map((pair) => pair.retention),
      );
    if (agreed) {
      targetRetention.set(target.name, agreed);
      if (!sameRetention(agreed, defaults.target_retention)) out.retention = agreed;
    }
    targetsOut[target.name] = out;
  }
  for (const [subvolume, retentions] of pairRetention) {
    const wrong = [...retentions].filter(
      ([target, retention]) =>
        !sameRetention(targetRetention.get(target) ?? defaults.target_retention, retention),
    );
    if (wrong.length === 0) continue;
    const own = uniform(retentions.values());
    if (own) subvolumes[subvolume]!.target_retention = own;
    else
      untranslated.push({
        line: subvolumeLines.get(subvolume) ?? 0,
        text: `subvolume ${subvolume}`,
        reason: `its copies on ${wrong.map(([target]) => target).join(', ')} keep a retention that differs per target and per subvolume, which snapkeep cannot express; the target's retention applies there (see \`snapkeep config show\`)`,
      });
  }

  const config = { defaults, targets: targetsOut, subvolumes };
  const notes = untranslated
    .sort((left, right) => left.line - right.line)
    .map((entry) => `#   ${describeUntranslated(entry)}`);
  const header = [
    `# snapkeep configuration imported from ${file} (snapkeep config import-btrbk).`,
    "# It takes over btrbk's snapshots and copies: the same snapshot directories, basenames, targets",
    "# and retention (btrbk's defaults written out: btrbk keeps everything unless told otherwise).",
    '# Check it with `snapkeep config validate`, then `snapkeep run --dry-run` (nothing is re-sent',
    '# in full where btrbk left a common snapshot).',
    ...(notes.length > 0 ? ['#', '# Not translated:', ...notes] : ['#', '# Every option was translated.']),
    '',
  ].join('\n');
  return {
    yaml: `${header}${stringify(config, { lineWidth: 0 })}`,
    untranslated,
    subvolumes: Object.keys(subvolumes).length,
    targets: Object.keys(targetsOut).length,
  };
}
