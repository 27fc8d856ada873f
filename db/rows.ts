/** postgres.js returns an array from `execute`, PGlite an object with `rows`; callers want rows. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}
