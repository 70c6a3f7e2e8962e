// Console preferences (theme, language, sidebar) and the open tabs.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { RouteLocationNormalized } from 'vue-router'
import { i18n, setLanguage, type Language } from '@/locales'

const THEME_KEY = 'fa.theme'
export type Theme = 'light' | 'dark'

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY)
  if (saved === 'light' || saved === 'dark') return saved
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

const TABS_KEY = 'fa.tabs'

function savedTabs(home: Tab): Tab[] {
  try {
    const saved = JSON.parse(sessionStorage.getItem(TABS_KEY) ?? '[]') as Tab[]
    if (Array.isArray(saved) && saved.every((tab) => typeof tab?.path === 'string' && typeof tab?.name === 'string')) {
      return [home, ...saved.filter((tab) => tab.path !== home.path)]
    }
  } catch {
    // unreadable: start afresh
  }
  return [home]
}

export interface Tab {
  path: string
  fullPath: string
  name: string
  title: string
  titleKey?: string
  keepAlive: boolean
  affix?: boolean
}

export const useAppStore = defineStore('app', () => {
  const theme = ref<Theme>(initialTheme())
  const collapsed = ref(false)
  const language = computed(() => i18n.global.locale.value as Language)
  // Home is always the first tab and cannot be closed.
  const home: Tab = { path: '/home', fullPath: '/home', name: 'Home', title: 'Home', titleKey: 'menu.Home', keepAlive: false, affix: true }
  const tabs = ref<Tab[]>(savedTabs(home))
  // The open tabs survive a reload of this browser tab (sessionStorage, like the session).
  watch(tabs, (value) => sessionStorage.setItem(TABS_KEY, JSON.stringify(value)), { deep: true })
  const refreshKey = ref(0)
  const excluded = ref<string[]>([])

  function applyTheme(): void {
    document.documentElement.classList.toggle('dark', theme.value === 'dark')
  }

  function toggleTheme(): void {
    theme.value = theme.value === 'dark' ? 'light' : 'dark'
    localStorage.setItem(THEME_KEY, theme.value)
    applyTheme()
  }

  function changeLanguage(lang: Language): void {
    setLanguage(lang)
  }

  const cached = computed(() =>
    tabs.value.filter((tab) => tab.keepAlive && !excluded.value.includes(tab.name)).map((tab) => tab.name),
  )

  function openTab(route: RouteLocationNormalized): void {
    if (!route.name || route.meta.public || route.meta.noTab) return
    const name = String(route.name)
    const tab: Tab = {
      path: route.path,
      fullPath: route.fullPath,
      name,
      title: String(route.meta.title ?? name),
      titleKey: route.meta.titleKey as string | undefined,
      keepAlive: Boolean(route.meta.keepAlive),
      affix: Boolean(route.meta.affix),
    }
    const index = tabs.value.findIndex((t) => t.path === tab.path)
    if (index >= 0) tabs.value[index] = tab
    else tabs.value.push(tab)
  }

  function closeTab(path: string): void {
    tabs.value = tabs.value.filter((tab) => tab.path !== path || tab.affix)
  }

  function closeOthers(path: string): void {
    tabs.value = tabs.value.filter((tab) => tab.path === path || tab.affix)
  }

  function closeAll(): void {
    tabs.value = tabs.value.filter((tab) => tab.affix)
  }

  /** Re-create the current page: drop it from keep-alive, then render it anew. */
  async function refresh(name: string, nextTick: () => Promise<void>): Promise<void> {
    excluded.value = [...excluded.value, name]
    refreshKey.value += 1
    await nextTick()
    excluded.value = excluded.value.filter((n) => n !== name)
  }

  function resetTabs(): void {
    tabs.value = [home]
  }

  return {
    theme, collapsed, language, tabs, cached, refreshKey,
    applyTheme, toggleTheme, changeLanguage, openTab, closeTab, closeOthers, closeAll, refresh, resetTabs,
  }
})
