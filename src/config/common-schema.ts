// Value schemas shared by every part of the configuration (kept apart so the parts can import
// them without importing each other).
import { z } from 'zod';
import { absolutePathProblem } from '../local-path.js';

/** A name used as a map key and inside restic tags (`snapkeep-set=<name>`). */
export const itemName = z
  .string()
  .regex(
    /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/,
    'is not a valid name; expected letters, digits, "_", "." and "-", starting with a letter or digit',
  );

/** Absolute path with no `..`, no control characters and no leading `-` (it reaches argv). */
export const absolutePath = z.string().superRefine((value, context) => {
  const problem = absolutePathProblem(value);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
});
