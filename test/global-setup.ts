// Build once before any test (tsc, then the CLI bundle): integration tests run the real CLI from
// dist/ the way users do, through dist/cli/main.cjs and the bundle. The validated-config
// cache goes to a directory of this test run (workers inherit the environment), not ~/.cache.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const cacheDirectory = mkdtempSync(join(tmpdir(), 'snapkeep-test-cache-'));
  process.env.SNAPKEEP_CACHE_DIR = cacheDirectory;
  return () => {
    rmSync(cacheDirectory, { recursive: true, force: true });
  };
}
