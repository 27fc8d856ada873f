/** Where a command prints: lines for the reader or a script (stdout) and notes and problems (stderr). Tests pass their own. */
export type Output = { out(text: string): void; err(text: string): void };

export const CONSOLE_OUTPUT: Output = { out: (text) => console.log(text), err: (text) => console.error(text) };
