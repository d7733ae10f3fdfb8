// Stub: implemented in a following commit.
const notYet = (): Promise<number> => Promise.reject(new Error('not implemented yet'));
export const runConfigInit = (_options: unknown): Promise<number> => notYet();
export const runConfigValidate = (_options: unknown): Promise<number> => notYet();
export const runConfigShow = (_options: unknown): Promise<number> => notYet();
