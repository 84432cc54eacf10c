/**
 * Waits for a condition on a live system (usually an API answer), probing every ~50 ms until it
 * holds or `timeoutMs` passes: tests wait for outcomes, never for fixed times.
 */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if (result) return result;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
