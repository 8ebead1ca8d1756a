// For tests that hold something back (a gate, a stalled stream): whether a promise settles without it.

/** True when `promise` has settled within 100 turns of the event loop, false when it is still pending then. */
export async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 100 && !done; i += 1) await new Promise((resolve) => setImmediate(resolve));
  return done;
}
