import 'vue-router'

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without signing in (sign-in, 403, 404). */
    public?: boolean
    /** The menu's title as the server sent it, and the translation key tried first. */
    title?: string
    titleKey?: string
    icon?: string | null
    keepAlive?: boolean
    hidden?: boolean
    noTab?: boolean
    affix?: boolean
    /** Titles (and keys) of the menus above this page, for the breadcrumb. */
    trail?: { title: string; titleKey?: string }[]
  }
}
