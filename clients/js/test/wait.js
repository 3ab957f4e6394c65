/** waitFor polls cond (which may be async) every 20 ms until it is true, or throws after ms. */
export async function waitFor(what, cond, ms = 60000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
