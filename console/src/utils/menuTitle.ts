// The shown title of a menu, button or route. Menus and buttons are seeded on the server with
// English titles; the console translates the seeded ones by a stable key:
//   - pages and directories by their route name:   `menu.<name>`  (src/locales/<lang>/menu.json)
//   - buttons (one per permission code) by the code: `perm.<code>` (src/locales/<lang>/perm.json)
// A menu the console has no translation for (one an admin added) shows the server's title.
// Used by the sidebar, breadcrumb and tabs (through the route's `titleKey`), the roles page's
// menu/permission tree and the menus page.
import { i18n } from '@/locales'

export interface Titled {
  name?: string | null
  title: string
  type?: string | null
  permission?: string | null
}

/** The translation key of a seeded menu or button, or undefined for a custom one. */
export function menuTitleKey(menu: Omit<Titled, 'title'>): string | undefined {
  const { te } = i18n.global
  if (menu.name && te(`menu.${menu.name}`, 'en')) return `menu.${menu.name}`
  if (menu.type === 'button' && menu.permission && te(`perm.${menu.permission}`, 'en')) return `perm.${menu.permission}`
  return undefined
}

/** A translated title (`key` in the current language) or the server's own. */
export function translatedTitle(title: string | undefined, key: string | undefined): string {
  const { t, te } = i18n.global
  return key && te(key) ? t(key) : (title ?? '')
}

export function menuTitle(menu: Titled): string {
  return translatedTitle(menu.title, menuTitleKey(menu))
}
