// Whether the window is at least `minWidth` px wide, following resizes: list pages show their
// optional columns only where they fit beside the others (the Actions column is fixed on the
// right and would otherwise cover the last one).
import { onBeforeUnmount, ref } from 'vue'

export function useWide(minWidth: number) {
  const query = window.matchMedia(`(min-width: ${minWidth}px)`)
  const wide = ref(query.matches)
  const follow = (event: MediaQueryListEvent) => {
    wide.value = event.matches
  }
  query.addEventListener('change', follow)
  onBeforeUnmount(() => query.removeEventListener('change', follow))
  return wide
}
