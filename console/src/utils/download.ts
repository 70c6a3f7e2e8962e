// Downloads through the API client: the access token lives in memory only, so a file cannot be
// a plain link; the page fetches it (with the token, refresh included) and saves the blob.
//
//   await saveDownload(api.GET('/api/v1/system/users/export', { params: { query }, parseAs: 'blob' }), 'users.csv')
import { toApiError } from '@/api/errors'

/** The file name of a Content-Disposition header (`filename*=UTF-8''…` or `filename="…"`). */
export function dispositionName(header: string | null): string | undefined {
  if (!header) return undefined
  const extended = /filename\*\s*=\s*(?:UTF-8'')?([^;]+)/i.exec(header)
  if (extended?.[1]) {
    try {
      return decodeURIComponent(extended[1].trim().replace(/^"|"$/g, ''))
    } catch {
      // fall through to the plain name
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(header)
  return plain?.[1]?.trim() || undefined
}

/** Hand a blob to the browser as a file download. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = name
  link.rel = 'noopener'
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

/** Await an openapi-fetch call made with `parseAs: 'blob'` and save its file; throws ApiError. */
export async function saveDownload(
  call: Promise<{ data?: unknown; error?: unknown; response: Response }>,
  fallbackName: string,
): Promise<string> {
  const { data, error, response } = await call
  if (!response.ok) throw toApiError(response, error)
  const name = dispositionName(response.headers.get('content-disposition')) ?? fallbackName
  saveBlob(data as Blob, name)
  return name
}
