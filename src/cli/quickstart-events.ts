// What `quickstart` reports (src/cli/quickstart-command.ts): one `quickstart` event per step (the
// runs in between print their own), rendered by createPrinter.

/** A step of the tour, as the heading the text shows. */
export interface QuickstartStepEvent {
  readonly type: 'quickstart';
  readonly step: 'plan' | 'full' | 'change' | 'incremental' | 'restore';
  readonly message: string;
}

export interface QuickstartSandboxEvent {
  readonly type: 'quickstart';
  readonly step: 'sandbox';
  readonly message: string;
  readonly root: string;
  readonly config: string;
}

/** The restored file compared with the original. */
export interface QuickstartVerifyEvent {
  readonly type: 'quickstart';
  readonly step: 'verify';
  readonly verified: boolean;
  readonly sha256: string;
  readonly expected: string;
}

/** The end of the tour: what to try next, as commands that work when pasted. */
export interface QuickstartDoneEvent {
  readonly type: 'quickstart';
  readonly step: 'done';
  /** How to run this CLI: `snapkeep`, or `node <script>`. */
  readonly cli: string;
  readonly root: string;
  readonly config: string;
  readonly journal: string;
  /** Sandboxes of earlier quickstarts, still there. */
  readonly earlier: readonly string[];
}

/** --cleanup: a sandbox removed (or not there), or none under the state directory at all. */
export type QuickstartCleanupEvent =
  | {
      readonly type: 'quickstart';
      readonly action: 'cleanup';
      readonly removed: boolean;
      readonly root: string;
    }
  | {
      readonly type: 'quickstart';
      readonly action: 'cleanup';
      readonly removed: false;
      readonly root: null;
      readonly stateDir: string;
    };

export type QuickstartEvent =
  | QuickstartStepEvent
  | QuickstartSandboxEvent
  | QuickstartVerifyEvent
  | QuickstartDoneEvent
  | QuickstartCleanupEvent;
