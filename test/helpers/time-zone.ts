// The process time zone for the tests of one file: set before each test (a test may switch it,
// e.g. to Europe/Berlin) and put back as it was after each.
import { afterEach, beforeEach } from 'vitest';

export function useTimeZone(zone: string): void {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.TZ;
    process.env.TZ = zone;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });
}
