// The notification state: what each channel was told about each problem (so a problem is told
// once, reminded after the interval, recovered once) and which runs' ends were pinged. One JSON
// file in the state directory, replaced atomically; a missing or damaged file is an empty state
// (at worst a problem is told once more). Notifiers of different processes (a run's observer,
// notify-failure, the watchdog) take an flock on notify.lock around read, send and write, so two
// of them never tell the same thing; no run waits for it longer than a channel may take.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lockFileDescriptor } from '../exec/flock.js';
import { emptyNotifyState, notifyStateVersion, type NotifyState } from './policy.js';

export const notifyStateFile = 'notify-state.json';

export async function loadNotifyState(stateDir: string): Promise<NotifyState> {
  try {
    const parsed = JSON.parse(
      await readFile(join(stateDir, notifyStateFile), 'utf8'),
    ) as Partial<NotifyState>;
    if (
      parsed.v !== notifyStateVersion ||
      typeof parsed.told !== 'object' ||
      typeof parsed.pinged !== 'object'
    )
      return emptyNotifyState();
    return { v: notifyStateVersion, told: parsed.told ?? {}, pinged: parsed.pinged ?? {} };
  } catch {
    return emptyNotifyState();
  }
}

export async function saveNotifyState(stateDir: string, state: NotifyState): Promise<void> {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, notifyStateFile);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/** The notifiers' lock, waited for up to `waitSeconds`; undefined when another notifier kept it. */
export async function lockNotifications(
  stateDir: string,
  waitSeconds: number,
): Promise<{ release(): void } | undefined> {
  mkdirSync(stateDir, { recursive: true });
  const fd = openSync(join(stateDir, 'notify.lock'), 'a', 0o600);
  let locked = false;
  try {
    locked = await lockFileDescriptor(fd, waitSeconds);
  } finally {
    if (!locked) closeSync(fd);
  }
  if (!locked) return undefined;
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}
