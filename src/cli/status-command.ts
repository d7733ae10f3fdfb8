// Stub: implemented in a following commit.
export function runStatus(..._args: unknown[]): Promise<number> {
  return Promise.reject(new Error('not implemented yet'));
}
