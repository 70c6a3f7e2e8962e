// Dates: the API speaks UTC ISO strings; the console shows them in the browser's local time and
// sends filters as ISO strings with a time zone (toISOString ends in `Z`).

/** A server timestamp in the browser's local time, or '-' when there is none. */
export function localTime(value: string | null | undefined): string {
  if (!value) return '-'
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString()
}

/** The `since`/`until` filters of an el-date-picker `datetimerange` (null when cleared). */
export function rangeQuery(range: [Date, Date] | null | undefined): { since?: string; until?: string } {
  if (!range) return {}
  return { since: range[0].toISOString(), until: range[1].toISOString() }
}
