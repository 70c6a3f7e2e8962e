// The router: history mode under /console/. Static routes for sign-in, 403 and 404; the pages
// come from the user's menus (router/menus.ts), added once per sign-in by the guard below.
import { createRouter, createWebHistory, type RouteLocationNormalized, type RouteRecordRaw } from 'vue-router'
import { onSessionLost, refreshTokens } from '@/api/client'
import { getAccessToken, getRefreshToken } from '@/api/tokens'
import { ApiError } from '@/api/errors'
import { useAuthStore } from '@/stores/auth'
import { useAppStore } from '@/stores/app'
import { menuRoutes } from './menus'

export const LAYOUT = 'Layout'
export const HOME = '/home'
// The shell of every signed-in page; fetched as soon as a reload starts restoring the session
// (in parallel with the token refresh and the menus), not only once the menus are known.
const layout = () => import('@/layout/index.vue')

const staticRoutes: RouteRecordRaw[] = [
  { path: '/login', name: 'Login', component: () => import('@/views/login/index.vue'), meta: { public: true } },
  { path: '/403', name: 'Forbidden', component: () => import('@/views/error/403.vue'), meta: { public: true } },
  {
    path: '/',
    name: LAYOUT,
    component: layout,
    redirect: HOME,
    children: [
      {
        path: HOME,
        name: 'Home',
        component: () => import('@/views/home/index.vue'),
        meta: { title: 'Home', titleKey: 'menu.Home', affix: true, icon: 'home' },
      },
      {
        path: '/profile',
        name: 'Profile',
        component: () => import('@/views/profile/index.vue'),
        meta: { title: 'Profile', titleKey: 'menu.Profile', hidden: true },
      },
    ],
  },
]

const notFound: RouteRecordRaw = {
  path: '/:pathMatch(.*)*',
  name: 'NotFound',
  component: () => import('@/views/error/404.vue'),
  meta: { public: true },
}

export const router = createRouter({
  history: createWebHistory('/console/'),
  routes: [...staticRoutes, notFound],
  scrollBehavior: () => ({ top: 0 }),
})

let removers: (() => void)[] = []

function installMenus(): void {
  const auth = useAuthStore()
  for (const remove of removers) remove()
  removers = menuRoutes(auth.menus).map((route) => router.addRoute(LAYOUT, route))
}

/** Sign-out or a dead session: drop the user's routes and tabs. */
export function forgetUser(): void {
  for (const remove of removers) remove()
  removers = []
  useAuthStore().reset()
  useAppStore().resetTabs()
}

function toLogin(to: RouteLocationNormalized) {
  const redirect = to.fullPath.startsWith('/login') ? undefined : to.fullPath
  return { path: '/login', query: redirect && redirect !== '/' ? { redirect } : {} }
}

router.beforeEach(async (to) => {
  if (to.meta.public && to.name !== 'NotFound') return true
  const auth = useAuthStore()
  if (!getAccessToken()) {
    // A reload (F5): the access token lived in memory only; the refresh token is in this tab.
    if (getRefreshToken()) void layout().catch(() => undefined)
    if (!getRefreshToken() || !(await refreshTokens())) {
      forgetUser()
      return toLogin(to)
    }
  }
  if (!auth.menusLoaded) {
    try {
      const me = await auth.loadMe()
      if (me.password_change_required || me.mfa_enrollment_required) {
        return { path: '/login', query: { ...toLogin(to).query, step: 'finish' } }
      }
      await auth.loadMenus()
    } catch (error) {
      forgetUser()
      if (error instanceof ApiError && error.status === 403) return '/403'
      return toLogin(to)
    }
    installMenus()
    return to.fullPath // resolve again, now that the user's pages exist
  }
  return true
})

router.afterEach((to) => {
  useAppStore().openTab(to)
})

onSessionLost(() => {
  const current = router.currentRoute.value
  forgetUser()
  if (!current.meta.public) void router.replace(toLogin(current))
})
