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

/** A server timestamp as a short local date and time for list columns ("12/7/26, 9:21 PM";
 *  with `seconds`: "12/7/26, 9:21:05 PM"). */
export function shortTime(value: string | null | undefined, seconds = false): string {
  if (!value) return '-'
  const date = new Date(value)
  const style = { dateStyle: 'short', timeStyle: seconds ? 'medium' : 'short' } as const
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString(undefined, style)
}
