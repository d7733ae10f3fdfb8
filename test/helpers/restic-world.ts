// The world of a backup-set test file: a real PostgreSQL, the restic binaries (0.14 and 0.18), a
// temp dir, and (when asked) an s3rver, all stopped and removed by the file's cleanups; per
// restic version a directory with a database and a folder of files; and the config of one
// backup set (a PostgreSQL source and a directory source into a local repository, offsites
// optional) written the way a user would.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cleanups } from './cleanups.js';
import { writeRandomData } from './btrfs-tree.js';
import { populateRealisticData, startPostgres, type PostgresServer } from './postgres.js';
import { resticBinaries, type ResticBinary } from './restic-binaries.js';
import { startS3Server, type S3Server } from './s3-server.js';

export interface ResticWorld {
  readonly postgres: PostgresServer;
  readonly binaries: ResticBinary[];
  /** A temp dir: each restic version's files go in `v<version>` under it. */
  readonly base: string;
}

/** Start PostgreSQL (and s3rver with `{ s3: true }`), find the restic binaries, make the temp dir. */
export async function startResticWorld(cleanups: Cleanups, prefix: string): Promise<ResticWorld>;
export async function startResticWorld(
  cleanups: Cleanups,
  prefix: string,
  options: { s3: true },
): Promise<ResticWorld & { s3: S3Server }>;
export async function startResticWorld(
  cleanups: Cleanups,
  prefix: string,
  options: { s3?: boolean } = {},
): Promise<ResticWorld & { s3?: S3Server }> {
  const binaries = await resticBinaries();
  // Each server's stop is registered as soon as it is up (also when the other fails to start).
  const stopLater = <Server extends { stop(): Promise<void> }>(server: Server): Server => {
    cleanups.push(() => server.stop());
    return server;
  };
  const [postgres, s3] = await Promise.all([
    startPostgres().then(stopLater),
    options.s3 ? startS3Server().then(stopLater) : undefined,
  ]);
  const base = await cleanups.tempDir(prefix);
  return { postgres, binaries, base, s3 };
}

export interface VersionData {
  /** `<base>/v<version>`: the config, the state dir and the local repository go here. */
  readonly directory: string;
  /** `<databasePrefix>_<version with underscores>`, created and filled with realistic data. */
  readonly database: string;
  /** The folder of random files (`<directory>/<uploads>`). */
  readonly uploads: string;
}

/** One restic version's data: a database (populateRealisticData at `scale`) and `fileMiB` of random
 *  files named `<filePrefix>-N.bin` in `<directory>/<uploads>`. */
export async function versionData(
  world: ResticWorld,
  binary: ResticBinary,
  options: { databasePrefix: string; scale: number; uploads: string; fileMiB: number; filePrefix: string },
): Promise<VersionData> {
  const directory = join(world.base, `v${binary.version}`);
  const database = `${options.databasePrefix}_${binary.version.replace(/\./g, '_')}`;
  const uploads = join(directory, options.uploads);
  await writeRandomData(uploads, options.fileMiB, options.filePrefix);
  await world.postgres.createDatabase(database);
  await populateRealisticData(world.postgres, database, options.scale);
  return { directory, database, uploads };
}

/** Keys of a YAML mapping: a string is written as it is (YAML text: a scalar, `[a, b]`, `{ … }`). */
export interface YamlKeys {
  readonly [key: string]: string | number | boolean | YamlKeys;
}

function yamlLines(keys: YamlKeys, indent: string): string {
  return Object.entries(keys)
    .map(([key, value]) =>
      typeof value === 'object'
        ? `${indent}${key}:\n${yamlLines(value, `${indent}  `)}`
        : `${indent}${key}: ${value}\n`,
    )
    .join('');
}

export interface BackupSetConfig {
  /** state_dir is `<directory>/state`, the local repository `<directory>/repo`. */
  readonly directory: string;
  /** repositories.local's keys after its url (its password, retention, …). */
  readonly local: YamlKeys;
  /** More repositories (offsites): name → keys. */
  readonly repositories?: Readonly<Record<string, YamlKeys>>;
  /** sources.database: a PostgreSQL source of one database, user postgres over 127.0.0.1. */
  readonly postgres: Pick<PostgresServer, 'port'>;
  readonly database: string;
  /** sources.database.password, when given. */
  readonly databasePassword?: string;
  /** The directory source: its name and path. */
  readonly files: { readonly name: string; readonly path: string };
  /** backup_sets.<name>: both sources into local; `offsite` and `more` keys when given. */
  readonly set: { readonly name: string; readonly offsite?: readonly string[]; readonly more?: YamlKeys };
}

/** Write the config of one backup set (see BackupSetConfig) to `<directory>/snapkeep.yaml`; its path. */
export async function writeBackupSetConfig(config: BackupSetConfig): Promise<string> {
  const repositories: Record<string, YamlKeys> = {
    local: { url: join(config.directory, 'repo'), ...config.local },
    ...config.repositories,
  };
  const set = config.set;
  const path = join(config.directory, 'snapkeep.yaml');
  await writeFile(
    path,
    `state_dir: ${join(config.directory, 'state')}
repositories:
${yamlLines(repositories, '  ')}sources:
  database:
    type: postgres
    databases: [${config.database}]
    host: 127.0.0.1
    port: ${config.postgres.port}
    user: postgres
${config.databasePassword ? `    password: ${config.databasePassword}\n` : ''}  ${config.files.name}:
    type: directory
    paths: [${config.files.path}]
backup_sets:
  ${set.name}:
    sources: [database, ${config.files.name}]
    repository: local
${set.offsite ? `    offsite: [${set.offsite.join(', ')}]\n` : ''}${yamlLines(set.more ?? {}, '    ')}`,
  );
  return path;
}

/**
 * The config of one backup set `app` with one directory source (`source`, the folder) into the
 * local repository `<directory>/repo`, its password in `<directory>/password` (not written here).
 */
export const folderSetConfig = (
  directory: string,
  folder: string,
  source = 'up',
): string => `state_dir: ${join(directory, 'state')}
repositories:
  local:
    url: ${join(directory, 'repo')}
    password: file:${join(directory, 'password')}
sources:
  ${source}:
    type: directory
    paths: [${folder}]
backup_sets:
  app:
    sources: [${source}]
    repository: local
`;
