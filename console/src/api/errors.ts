// The API's error envelope: {"code","message","type","data":null,"errors":[{field,location,message,type}]}.
// `type` is a stable name of what went wrong (docs/http.md, "Error types"): the console words an
// error by its type (src/locales/<lang>/apierror.json), never by the server's English message.
import { i18n } from '@/locales'

export interface FieldError {
  field?: string | null
  location?: string | null
  message: string
  type: string
}

type Translate = (key: string, values?: Record<string, unknown>) => string

export class ApiError extends Error {
  readonly status: number
  readonly type: string
  readonly errors: FieldError[]
  readonly retryAfter: number | null

  constructor(status: number, message: string, errors: FieldError[] = [], retryAfter: number | null = null, type = '') {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.type = type
    this.errors = errors
    this.retryAfter = retryAfter
  }

  /** The first problem reported for `field` (e.g. `captcha_code`), if any. */
  fieldError(field: string): FieldError | undefined {
    return this.errors.find((error) => error.field === field)
  }

  /** Someone else changed the record since it was read (a 409 `stale_version`). */
  get stale(): boolean {
    return this.type === 'stale_version'
  }
}

interface Envelope {
  code?: number
  message?: string
  type?: string
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
    typeof envelope.type === 'string' ? envelope.type : '',
  )
}

/** A field problem in the user's language: `validation.<type>` or `apierror.field.<type>` when
 * the console has that translation (src/locales/<lang>/), else the server's own message. */
export function fieldMessage(problem: FieldError, t: (key: string) => string = i18n.global.t, te: (key: string) => boolean = i18n.global.te): string {
  const key = [`validation.${problem.type}`, `apierror.field.${problem.type}`].find((candidate) => te(candidate))
  return key ? t(key) : problem.message
}

/** The field problems of `error` in the user's language, keyed by the top-level field name,
 * for the fields `known` accepts (the form's own); several problems of one field are joined. */
export function fieldErrors(error: ApiError, known: (field: string) => boolean): Record<string, string> {
  const found: Record<string, string> = {}
  for (const problem of error.errors) {
    const field = problem.field?.split('.')[0]
    if (!field || !known(field) || (error.stale && field === 'version')) continue
    const message = fieldMessage(problem)
    found[field] = found[field] ? `${found[field]}; ${message}` : message
  }
  return found
}

/** What to tell the user about any failed call, in their language: the text of its `type`
 * (`apierror.<type>`, with the wait for a 429), else, for a type the console does not know,
 * the server's own message. */
export function errorMessage(error: unknown, t: Translate = i18n.global.t): string {
  if (!(error instanceof ApiError)) return String(error)
  const type = error.type || legacyType(error.status)
  if (error.retryAfter && i18n.global.te(`apierror.${type}_for`)) {
    return t(`apierror.${type}_for`, { seconds: error.retryAfter })
  }
  return i18n.global.te(`apierror.${type}`) ? t(`apierror.${type}`) : error.message
}

// Answers without a `type` (not from this API, e.g. a proxy's 502): the status's own words.
function legacyType(status: number): string {
  return ({ 403: 'permission_denied', 429: 'rate_limited', 503: 'unavailable' } as Record<number, string>)[status] ?? ''
}
