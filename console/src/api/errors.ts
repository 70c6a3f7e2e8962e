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
