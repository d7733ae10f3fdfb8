// What `retention preview --json` prints (src/cli/retention-command.ts): one `retention` event per
// input line, in input order (a stable contract for external conformance checks). The text is a
// view of the same verdicts (the policy, a table, the counts), printed once they are known.
import type { RetentionVerdict } from './retention-command.js';

export interface RetentionEvent extends RetentionVerdict {
  readonly type: 'retention';
}
