// The one API client: typed by the app's OpenAPI document (src/api/schema.d.ts, `npm run gen`).
//
//   const { data, error, response } = await api.GET('/api/v1/system/positions', { params: { query } })
//   if (error) throw toApiError(response, error)
//
// Every request carries the access token. A 401 triggers one refresh (shared by concurrent
// requests) and the request is sent again once; when the refresh fails the tokens are dropped
// and `onSessionLost` (set by the router) takes the user to the sign-in page.
import createClient from 'openapi-fetch'
import type { paths } from './schema'
import { clearTokens, getAccessToken, getRefreshToken, setTokens } from './tokens'
import { toApiError } from './errors'

const NO_RETRY = ['/api/v1/auth/login', '/api/v1/auth/refresh']

let sessionLost: () => void = () => {}
let refreshing: Promise<boolean> | null = null

export function onSessionLost(handler: () => void): void {
  sessionLost = handler
}

/** Exchange the refresh token for new tokens; false when there is none or it is dead. */
export function refreshTokens(): Promise<boolean> {
  if (!refreshing) {
    refreshing = (async () => {
      const token = getRefreshToken()
      if (!token) return false
      try {
        const response = await fetch('/api/v1/auth/refresh', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: token }),
        })
        if (!response.ok) {
          clearTokens()
          return false
        }
        const body = (await response.json()) as { access_token: string; refresh_token: string }
        setTokens(body.access_token, body.refresh_token)
        return true
      } catch {
        return false
      }
    })().finally(() => {
      refreshing = null
    })
  }
  return refreshing
}

function withToken(request: Request): Request {
  const token = getAccessToken()
  if (token) request.headers.set('Authorization', `Bearer ${token}`)
  return request
}

/** A 401 that names a field (a wrong `otp` when re-authenticating) is about that value, not
 * about the token: refreshing and sending it again would spend another guess and sign out. */
async function namesAField(response: Response): Promise<boolean> {
  try {
    const body = (await response.clone().json()) as { errors?: { field?: string | null }[] }
    return Array.isArray(body.errors) && body.errors.some((problem) => Boolean(problem.field))
  } catch {
    return false
  }
}

async function authFetch(input: Request): Promise<Response> {
  const path = new URL(input.url).pathname
  if (NO_RETRY.includes(path)) return fetch(input)
  const copy = input.clone()
  const response = await fetch(withToken(input))
  if (response.status !== 401 || (await namesAField(response))) return response
  if (await refreshTokens()) {
    const retried = await fetch(withToken(copy))
    if (retried.status !== 401) return retried
  }
  clearTokens()
  sessionLost()
  return response
}

export const api = createClient<paths>({ baseUrl: '', fetch: authFetch })

/** `data` of a successful call, or throw the ApiError of a failed one. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call
  if (!response.ok) throw toApiError(response, error)
  return data as T
}
