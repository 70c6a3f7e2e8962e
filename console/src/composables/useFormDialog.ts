// A create/edit dialog whose form shows the server's verdict on each field.
//
//   const dialog = useFormDialog<PositionForm>(() => ({ name: '', code: '', sort: 0, status: 'active' }))
//   dialog.open()            // create
//   dialog.open(row.id, row) // edit
//   await dialog.submit((form, id) => id ? update(id, form) : create(form), { onDone: table.load })
//   <el-form-item :error="dialog.errors.name" ...>
//
// A 422 (or 400/409 naming fields) puts each `errors[].message` under its field and keeps the
// dialog open; a stale version or a 404 (someone else changed or removed the record) explains it
// and offers to reload the list; anything else is worded by its type (api/errors.ts).
import { reactive, ref } from 'vue'
import { ElMessage, ElMessageBox } from 'element-plus'
import { ApiError, errorMessage, fieldErrors } from '@/api/errors'
import { i18n } from '@/locales'

export interface SubmitOptions {
  onDone?: () => unknown
  onReload?: () => unknown
  /** A page's own words for an error naming no field of the form (e.g. a 409 "would make a
   *  cycle", which is no stale version): shown as an error, the dialog stays open. */
  explain?: (error: ApiError) => string | undefined
}

export function useFormDialog<F extends object>(blank: () => F) {
  const visible = ref(false)
  const editing = ref<number | null>(null)
  const submitting = ref(false)
  const form = reactive(blank()) as F
  const errors = reactive<Record<string, string>>({})

  function clearErrors(): void {
    for (const key of Object.keys(errors)) delete errors[key]
  }

  function open(id: number | null = null, values?: Partial<F>): void {
    clearErrors()
    editing.value = id
    const fresh = blank()
    for (const key of Object.keys(fresh) as (keyof F)[]) {
      const value = values?.[key]
      ;(form as F)[key] = (value === undefined || value === null ? fresh[key] : value) as F[keyof F]
    }
    visible.value = true
  }

  /** Put the API's field errors on the form; true if at least one named a field of it. */
  function showFieldErrors(error: ApiError): boolean {
    const found = fieldErrors(error, (field) => field in form)
    Object.assign(errors, found)
    return Object.keys(found).length > 0
  }

  async function submit(save: (form: F, id: number | null) => Promise<unknown>, options: SubmitOptions = {}): Promise<boolean> {
    const t = i18n.global.t
    clearErrors()
    submitting.value = true
    try {
      await save({ ...(form as F) }, editing.value)
      visible.value = false
      ElMessage.success(t(editing.value === null ? 'common.created' : 'common.saved'))
      await options.onDone?.()
      return true
    } catch (error) {
      if (!(error instanceof ApiError)) throw error
      // A stale `version` is no problem of a field the user can fix.
      if (!error.stale && showFieldErrors(error)) {
        if (error.status === 409) ElMessage.warning(error.type === 'duplicate' ? t('common.conflictField') : errorMessage(error, t))
        return false
      }
      const explained = options.explain?.(error)
      if (explained) {
        ElMessage.error(explained)
        return false
      }
      if (error.stale || error.status === 404) {
        await ElMessageBox.alert(t(error.stale ? 'common.conflict' : 'common.gone'), t('common.conflictTitle'), {
          confirmButtonText: t('common.reload'),
          type: 'warning',
        }).catch(() => undefined)
        visible.value = false
        await (options.onReload ?? options.onDone)?.()
        return false
      }
      ElMessage.error(errorMessage(error, t))
      return false
    } finally {
      submitting.value = false
    }
  }

  return { visible, editing, submitting, form, errors, open, submit, clearErrors }
}
