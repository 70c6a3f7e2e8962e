// The signed-in user: identity, permission codes and menus, from /auth/me and /auth/me/menus.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, unwrap } from '@/api/client'
import { clearTokens, getAccessToken, setTokens } from '@/api/tokens'
import type { components } from '@/api/schema'

export type Me = components['schemas']['MeRead']
export type MenuNode = components['schemas']['MenuTreeNode']
export type TokenResponse = components['schemas']['TokenResponse']

export const useAuthStore = defineStore('auth', () => {
  const me = ref<Me | null>(null)
  const menus = ref<MenuNode[]>([])
  const menusLoaded = ref(false)
  const permissions = computed(() => new Set(me.value?.permissions ?? []))

  /** May the user use the control guarded by `code`? (The server still decides.) */
  function can(code: string | string[]): boolean {
    if (!me.value) return false
    if (me.value.is_superuser) return true
    const codes = Array.isArray(code) ? code : [code]
    return codes.every((c) => permissions.value.has(c))
  }

  function signedIn(tokens: TokenResponse): void {
    setTokens(tokens.access_token, tokens.refresh_token)
  }

  async function loadMe(): Promise<Me> {
    const value = await unwrap(api.GET('/api/v1/auth/me')).then((body) => body.data)
    me.value = value
    return value
  }

  async function loadMenus(): Promise<MenuNode[]> {
    menus.value = await unwrap(api.GET('/api/v1/auth/me/menus')).then((body) => body.data)
    menusLoaded.value = true
    return menus.value
  }

  /** Forget everything about the user (sign-out, dead session). */
  function reset(): void {
    clearTokens()
    me.value = null
    menus.value = []
    menusLoaded.value = false
  }

  async function signOut(): Promise<void> {
    if (getAccessToken()) {
      await api.POST('/api/v1/auth/logout').catch(() => undefined)
    }
    reset()
  }

  return { me, menus, menusLoaded, permissions, can, signedIn, loadMe, loadMenus, reset, signOut }
})
