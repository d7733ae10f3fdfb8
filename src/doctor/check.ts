// One diagnostic finding of `snapkeep doctor`: what was checked, whether it is fine, and — when it
// is not — the likely cause and the fix as commands a person can run. Every check module turns
// observations (command results, files, API answers) into these with pure functions; only the
// observing is an effect.
import { ExitCode } from '../errors.js';

export type CheckStatus = 'OK' | 'WARN' | 'FAIL' | 'SKIP';

export const checkGroups = ['prereqs', 'ssh', 'volume', 'sources', 'aws', 'logs', 'notify'] as const;
export type CheckGroup = (typeof checkGroups)[number];

export interface CheckResult {
  readonly group: CheckGroup;
  /** What the check is about when a group has several: a target, a subvolume. */
  readonly subject?: string;
  /** Stable id for scripts (`tcp`, `host-key`, `usage`, …). */
  readonly check: string;
  /** Short human title. */
  readonly title: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** Set for WARN and FAIL: why this most likely happened. */
  readonly cause?: string;
  /** Set for WARN and FAIL: what to do, one step (usually a command) per entry. */
  readonly fix?: readonly string[];
}

export type CheckFields = Omit<CheckResult, 'group' | 'subject' | 'status'>;

/** A check builder bound to a group and subject, so interpreters only state what they found. */
export interface CheckScope {
  readonly ok: (check: string, title: string, detail: string) => CheckResult;
  readonly skip: (check: string, title: string, detail: string) => CheckResult;
  readonly warn: (
    check: string,
    title: string,
    detail: string,
    cause: string,
    fix: readonly string[],
  ) => CheckResult;
  readonly fail: (
    check: string,
    title: string,
    detail: string,
    cause: string,
    fix: readonly string[],
  ) => CheckResult;
}

export function scope(group: CheckGroup, subject?: string): CheckScope {
  const base = { group, ...(subject === undefined ? {} : { subject }) };
  return {
    ok: (check, title, detail) => ({ ...base, check, title, status: 'OK', detail }),
    skip: (check, title, detail) => ({ ...base, check, title, status: 'SKIP', detail }),
    warn: (check, title, detail, cause, fix) => ({
      ...base,
      check,
      title,
      status: 'WARN',
      detail,
      cause,
      fix,
    }),
    fail: (check, title, detail, cause, fix) => ({
      ...base,
      check,
      title,
      status: 'FAIL',
      detail,
      cause,
      fix,
    }),
  };
}

export interface DoctorSummary {
  readonly ok: number;
  readonly warn: number;
  readonly fail: number;
  readonly skip: number;
  readonly exitCode: number;
}

/**
 * Every check OK (WARN and SKIP included) → 0; any FAIL → 3 ("partial": some checks failed, the
 * others ran — the same code `status` gives when the last run had problems).
 */
export function summarize(results: readonly CheckResult[]): DoctorSummary {
  const count = (status: CheckStatus): number => results.filter((result) => result.status === status).length;
  const fail = count('FAIL');
  return {
    ok: count('OK'),
    warn: count('WARN'),
    fail,
    skip: count('SKIP'),
    exitCode: fail > 0 ? ExitCode.partial : ExitCode.ok,
  };
}

/** The human lines of one check: status, title and detail; cause and fix under it. */
export function formatCheck(result: CheckResult): string[] {
  const lines = [`  ${result.status.padEnd(4)}  ${result.title}${result.detail ? `: ${result.detail}` : ''}`];
  if (result.cause) lines.push(`        cause: ${result.cause}`);
  result.fix?.forEach((step, index) => {
    lines.push(`        ${index === 0 ? 'fix:  ' : '      '} ${step}`);
  });
  return lines;
}

export function formatSummary(summary: Omit<DoctorSummary, 'exitCode'>): string {
  const parts = [`${summary.fail} FAIL`, `${summary.warn} WARN`, `${summary.ok} OK`];
  if (summary.skip > 0) parts.push(`${summary.skip} SKIP`);
  return `${parts.join(', ')}${summary.fail > 0 ? ' — the fixes are listed under each FAIL' : ''}`;
}

/** The last few meaningful lines of a tool's output, for details. */
export function lastLines(text: string, count = 2): string {
  return text
    .trim()
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' | ');
}

/** "3.2 h", "2.5 days": ages in messages. */
export function formatHours(hours: number): string {
  if (hours < 1) return `${Math.max(0, Math.round(hours * 60))} min`;
  if (hours < 48) return `${hours.toFixed(1)} h`;
  return `${(hours / 24).toFixed(1)} days`;
}
