// The PostgreSQL test helper itself (test/helpers/postgres.ts): a private server starts, holds
// realistic data, survives a pg_dump | psql round trip with identical digests, and is gone after
// stop().
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/exec/command.js';
import { clientEnv, populateRealisticData, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { acceptsConnections } from '../helpers/net.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

describe('postgres test helper', () => {
  it('serves on 127.0.0.1 as postgres', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.user).toBe('postgres');
    expect(await acceptsConnections(server.port)).toBe(true);
    expect(await server.sql('postgres', 'SELECT current_user; SHOW listen_addresses;')).toBe(
      'postgres\n127.0.0.1',
    );
    await expect(server.sql('postgres', 'SELECT * FROM no_such_table')).rejects.toThrow(/no_such_table/);
  });

  it('populates realistic data and survives pg_dump | psql with identical digests', async () => {
    await server.createDatabase('source');
    await populateRealisticData(server, 'source', 5);
    const digests = await server.tableDigests('source');
    const tables = Object.keys(digests).sort();
    expect(tables).toEqual(
      ['public.attachments', 'public.comments', 'public.invoices', 'public.posts', 'public.users'].sort(),
    );
    for (const table of tables) {
      expect(digests[table]!.rows, table).toBeGreaterThan(0);
      expect(digests[table]!.checksum, table).toMatch(/^[0-9a-f]{32}$/);
    }
    // Roughly the requested size: heap of the user tables (indexes excluded).
    const heapBytes = Number(
      await server.sql(
        'source',
        `SELECT sum(pg_table_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND n.nspname = 'public'`,
      ),
    );
    expect(heapBytes).toBeGreaterThan(3 * 1024 * 1024);
    expect(heapBytes).toBeLessThan(10 * 1024 * 1024);

    await server.createDatabase('copy');
    const env = clientEnv(server);
    const { stages } = await runPipeline([
      { file: 'pg_dump', args: ['-d', 'source'], env, timeoutMs: 60_000 },
      { file: 'psql', args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'copy'], env, timeoutMs: 60_000 },
    ]);
    for (const stage of stages) expect(stage.exitCode, stage.stderr).toBe(0);

    expect(await server.tableDigests('copy')).toEqual(digests);
    // What digests do not cover: the sequence position and the view.
    const state =
      'SELECT last_value FROM invoice_number_seq; SELECT count(*) FROM user_activity WHERE posts > 0;';
    expect(await server.sql('copy', state)).toBe(await server.sql('source', state));
  });

  it('stops, frees the port, and is idempotent', async () => {
    const port = server.port;
    await server.stop();
    await server.stop();
    expect(await acceptsConnections(port)).toBe(false);
    await expect(server.sql('postgres', 'SELECT 1')).rejects.toThrow();
  });
});
