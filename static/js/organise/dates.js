// The sidebar's date groups for conversations outside Pinned and the folders, by the day of
// their last activity in the browser's local time (a conversation from 23:50 yesterday is
// "Yesterday" even if that was ten minutes ago).
export const DATE_GROUPS = ["today", "yesterday", "week", "month", "older"];

const DAY_MS = 24 * 60 * 60 * 1000;

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

// `updated`: Unix seconds, as the server sends them; `now`: a Date.
export function dateGroup(updated, now = new Date()) {
  const today = startOfDay(now);
  // Counted in calendar days, not 24-hour spans: a day with a DST change is one day too.
  const day = startOfDay(new Date(updated * 1000));
  const daysAgo = Math.round((today - day) / DAY_MS);
  if (daysAgo <= 0) return "today";
  if (daysAgo === 1) return "yesterday";
  if (daysAgo <= 7) return "week";
  if (daysAgo <= 30) return "month";
  return "older";
}
