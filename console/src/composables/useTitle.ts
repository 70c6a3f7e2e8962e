// The shown title of a menu or route: its translation (`menu.<RouteName>` in
// src/locales/<lang>/menu.json) when there is one, else the title the server sent.
import { useI18n } from 'vue-i18n'

export function useTitle() {
  const { t, te } = useI18n()
  return (title: string | undefined, key?: string): string => (key && te(key) ? t(key) : (title ?? ''))
}
