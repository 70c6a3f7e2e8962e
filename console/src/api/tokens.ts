// Where the tokens live (see console/README.md, "Tokens"):
// - the access token only in memory (a page's script cannot find it in any storage);
// - the refresh token in sessionStorage: it survives a reload (F5) of this tab, is not shared
//   with other tabs and is gone when the tab closes. Every refresh rotates it.
const REFRESH_KEY = 'fa.refresh'

let accessToken: string | null = null

export function getAccessToken(): string | null {
  return accessToken
}

export function getRefreshToken(): string | null {
  return sessionStorage.getItem(REFRESH_KEY)
}

export function setTokens(access: string, refresh: string): void {
  accessToken = access
  sessionStorage.setItem(REFRESH_KEY, refresh)
}

export function clearTokens(): void {
  accessToken = null
  sessionStorage.removeItem(REFRESH_KEY)
}
