// The shown title of a menu row: the translation `menu.<name>` (as the sidebar shows it) when
// there is one, else the title stored on the server.
import { i18n } from '@/locales'

export function menuTitle(menu: { name?: string | null; title: string }): string {
  const key = menu.name ? `menu.${menu.name}` : ''
  return key && i18n.global.te(key) ? i18n.global.t(key) : menu.title
}
