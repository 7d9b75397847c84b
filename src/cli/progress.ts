/** Progress on stderr for long work, only when stderr is a terminal: stage, bytes, rate, ETA. */
export function progress(stage: string): { update: (done: number, total: number) => void; done: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, done: () => {} };
  const t0 = Date.now();
  let last = 0;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      const s = (now - t0) / 1000;
      const rate = done / 1048576 / Math.max(s, 0.001);
      const eta = rate > 0 ? (total - done) / 1048576 / rate : 0;
      process.stderr.write(`\r${stage}: ${(done / 1048576).toFixed(0)}/${(total / 1048576).toFixed(0)} MiB, ${rate.toFixed(0)} MiB/s, ETA ${eta.toFixed(0)} s   `);
    },
    done() {
      if (last) process.stderr.write('\n');
    },
  };
}
