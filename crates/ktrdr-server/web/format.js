// How the page writes durations, times and numbers: fixed shapes, so that a column of them
// does not change width as they tick.

const pad = (n) => String(n).padStart(2, "0");

/** `secs` as `45s`, `4m 05s`, `2h 03m`, `3d 04h`; an em dash when unknown. */
export function formatDuration(secs) {
  if (secs === null || secs === undefined || !Number.isFinite(secs)) return "—";
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + pad(s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + pad(Math.floor((s % 3600) / 60)) + "m";
  return Math.floor(s / 86400) + "d " + pad(Math.floor((s % 86400) / 3600)) + "h";
}

/** An ETA with its range: `4m 05s (3m 50s–4m 40s)`. */
export function formatEta(eta, low, high) {
  if (eta === null || eta === undefined) return "—";
  const range = low !== null && low !== undefined && high !== null && high !== undefined
    ? " (" + formatDuration(low) + "–" + formatDuration(high) + ")"
    : "";
  return formatDuration(eta) + range;
}

/** A time (ISO text or unix seconds) as `2024-01-02 03:04:05`, in UTC. */
export function formatTime(value) {
  if (value === null || value === undefined || value === "") return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().slice(0, 19).replace("T", " ");
}

/** A unix time as an ISO date-time the API reads (`2024-01-02T03:04:05Z`). */
export function isoSeconds(unix) {
  return new Date(unix * 1000).toISOString().slice(0, 19) + "Z";
}

/** A count with thin-space thousands: `20 758`. */
export function formatCount(n) {
  if (n === null || n === undefined) return "—";
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009");
}

/** A price with as many decimals as its size calls for. */
export function formatPrice(p) {
  if (!Number.isFinite(p)) return "—";
  const digits = Math.abs(p) >= 1000 ? 0 : Math.abs(p) >= 10 ? 2 : 4;
  return p.toFixed(digits);
}

/** Seconds as the span of a bucket: `1h`, `200h` → `8d 08h`, using the shortest exact unit. */
export function formatSpan(secs) {
  const units = [["w", 604800], ["d", 86400], ["h", 3600], ["m", 60]];
  for (const [unit, size] of units) {
    if (secs % size === 0) return secs / size + unit;
  }
  return secs + "s";
}
