// Statistics the bench reports share (report.mjs for the btrfs benches, restic-dump.sh).

/** The median of `values`; undefined for none. */
export const median = (values) => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** The `q` quantile (0..1) of `values`, interpolated between neighbours. */
export const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
};

/**
 * The tools of one round run back to back in a rotating order, so they share the machine's
 * state of that moment (another job's load, the disk's mood): the ratio within each round, then
 * their median and quartiles, is steadier than a ratio of medians taken across the whole run.
 * `mine` and `theirs` map a round to its seconds; undefined when no round has both.
 */
export const pairedRatio = (mine = {}, theirs = {}) => {
  const ratios = Object.keys(mine)
    .filter((run) => theirs[run])
    .map((run) => mine[run] / theirs[run]);
  if (ratios.length === 0) return undefined;
  return { median: median(ratios), low: quantile(ratios, 0.25), high: quantile(ratios, 0.75) };
};
