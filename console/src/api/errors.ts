// The API's error envelope: {"code","message","data":null,"errors":[{field,location,message,type}]}.
export interface FieldError {
  field?: string | null
  location?: string | null
  message: string
  type: string
}

export class ApiError extends Error {
  readonly status: number
  readonly errors: FieldError[]
  readonly retryAfter: number | null

  constructor(status: number, message: string, errors: FieldError[] = [], retryAfter: number | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.errors = errors
    this.retryAfter = retryAfter
  }

  /** The first problem reported for `field` (e.g. `captcha_code`), if any. */
  fieldError(field: string): FieldError | undefined {
    return this.errors.find((error) => error.field === field)
  }
}

interface Envelope {
  code?: number
  message?: string
  errors?: FieldError[]
}

/** An ApiError from a failed openapi-fetch result (`error` is the parsed body, if JSON). */
export function toApiError(response: Response, body: unknown): ApiError {
  const envelope = (body && typeof body === 'object' ? body : {}) as Envelope
  const retry = Number(response.headers.get('retry-after'))
  return new ApiError(
    response.status,
    envelope.message || response.statusText || `HTTP ${response.status}`,
    Array.isArray(envelope.errors) ? envelope.errors : [],
    Number.isFinite(retry) && retry > 0 ? retry : null,
  )
}

/** A field problem in the user's language: `validation.<type>` when the console has that
 * translation (src/locales/<lang>/validation.json), else the server's own message. */
export function fieldMessage(problem: FieldError, t: (key: string) => string, te: (key: string) => boolean): string {
  const key = `validation.${problem.type}`
  return te(key) ? t(key) : problem.message
}

/** What to tell the user about a failed call, in their language where the console knows the
 * case (rate limit, permission, outage); otherwise the server's message. */
export function errorMessage(error: unknown, t: (key: string, values?: Record<string, unknown>) => string): string {
  if (!(error instanceof ApiError)) return String(error)
  if (error.status === 429) {
    return error.retryAfter ? t('common.rateLimitedFor', { seconds: error.retryAfter }) : t('common.rateLimited')
  }
  if (error.status === 403) return t('common.forbidden')
  if (error.status === 503) return t('common.unavailable')
  return error.message
}
