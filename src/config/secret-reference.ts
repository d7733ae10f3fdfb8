// The grammar of a secret reference, without the schema library: what resolves secrets at run
// time (secret-variables.ts, the cached start of status and check) tests it without loading zod.

/**
 * Where a secret is, never the secret: `env:NAME` (an environment variable of the snapkeep
 * process), `file:/path` (its first line), `op://vault/item/field` (the 1Password CLI).
 */
export const secretReferencePattern =
  /^(?:env:[A-Za-z_][A-Za-z0-9_]*|file:\/[^\s]*|op:\/\/[^\s/]+\/[^\s/]+(?:\/[^\s/]+)+)$/;
