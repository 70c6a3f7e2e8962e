// Routes from the menus of GET /api/v1/auth/me/menus.
//
// A menu of type `menu` with a `path` becomes a child route of the layout; its `component`
// (`system/user/index`) names src/views/system/user/index.vue, loaded lazily (one chunk per
// page: a page is an `index.vue`; the other .vue files beside it are its parts, in its chunk). An unknown component shows the placeholder view. A directory leads to its `redirect`
// or its first page. A menu with a `link` is an external address: no route, the sidebar opens it.
import type { Component } from 'vue'
import type { RouteRecordRaw } from 'vue-router'
import type { MenuNode } from '@/stores/auth'
import { menuTitleKey } from '@/utils/menuTitle'

type Loader = () => Promise<{ default: Component }>
const views = import.meta.glob<{ default: Component }>('../views/**/index.vue')
const placeholder: Loader = () => import('@/views/placeholder/index.vue')

/** The loader of `component` (`system/user/index`, with or without `.vue`), or undefined. */
export function viewFor(component: string | null | undefined): Loader | undefined {
  if (!component) return undefined
  const clean = component.replace(/^\/+|\.vue$/g, '').replace(/^@\/views\//, '')
  return views[`../views/${clean}.vue`]
}

/** The route name of a menu: its `name`, else one made from its id. */
export function routeName(menu: MenuNode): string {
  return menu.name || `menu-${menu.id}`
}

/** The translation key of a menu's title (utils/menuTitle.ts), if the console has one. */
export function titleKey(menu: MenuNode): string | undefined {
  return menuTitleKey(menu)
}

function firstPage(menu: MenuNode): string | undefined {
  for (const child of menu.children ?? []) {
    if (child.type === 'menu' && child.path && !child.link && child.visible) return child.path
    const nested = firstPage(child)
    if (nested) return nested
  }
  return undefined
}

function named(loader: Loader, name: string): Loader {
  // keep-alive caches by component name: give each page the name of its route.
  return () => loader().then((module) => ({ default: { ...(module.default as object), name } as Component }))
}

export function menuRoutes(menus: MenuNode[]): RouteRecordRaw[] {
  const routes: RouteRecordRaw[] = []
  const walk = (items: MenuNode[], trail: { title: string; titleKey?: string }[]) => {
    for (const menu of items) {
      if (menu.type === 'button' || menu.link) continue
      const here = [...trail, { title: menu.title, titleKey: titleKey(menu) }]
      if (menu.type === 'directory') {
        const target = menu.redirect || firstPage(menu)
        if (menu.path && target && target !== menu.path) {
          routes.push({ path: menu.path, name: routeName(menu), redirect: target, meta: { hidden: true } })
        }
        walk(menu.children ?? [], here)
        continue
      }
      if (!menu.path) continue
      const name = routeName(menu)
      if (menu.redirect) {
        routes.push({ path: menu.path, name, redirect: menu.redirect })
        continue
      }
      routes.push({
        path: menu.path,
        name,
        component: named(viewFor(menu.component) ?? placeholder, name),
        meta: {
          title: menu.title,
          titleKey: titleKey(menu),
          icon: menu.icon,
          keepAlive: menu.keep_alive,
          hidden: !menu.visible,
          trail,
        },
      })
      walk(menu.children ?? [], here)
    }
  }
  walk(menus, [])
  return routes
}
