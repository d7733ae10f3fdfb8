// Value schemas shared by every part of the configuration (kept apart so the parts can import
// them without importing each other).
import { z } from 'zod';

/** A name used as a map key and inside restic tags (`snapkeep-set=<name>`). */
export const itemName = z
  .string()
  .regex(
    /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/,
    'is not a valid name; expected letters, digits, "_", "." and "-", starting with a letter or digit',
  );

/** Absolute path with no `..`, no control characters and no leading `-` (it reaches argv). */
export const absolutePath = z
  .string()
  .refine((value) => value.startsWith('/'), {
    message: 'is not an absolute path; expected a path starting with /',
  })
  .refine((value) => !value.split('/').includes('..'), {
    message: 'contains a ".." component; expected a path without ".."',
  })
  // eslint-disable-next-line no-control-regex
  .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), {
    message: 'contains a control character; expected printable characters only',
  });
