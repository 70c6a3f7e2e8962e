// Server-side paging, sorting and filtering for a list page.
//
//   const table = useTable((query) => unwrap(api.GET('/api/v1/system/positions', { params: { query } })),
//                          { filters: { name: '', status: undefined }, sort: 'sort' })
//   <el-table :data="table.rows.value" v-loading="table.loading.value" @sort-change="table.onSort">
//   <el-pagination v-model:current-page="table.page.value" v-model:page-size="table.pageSize.value"
//                  :total="table.total.value" @change="table.load" />
//
// The query sent is {page, page_size, sort, ...filters} with empty filters left out; `sort` is a
// column the API whitelists, `-column` for descending (an el-table `sortable="custom"` column's
// `prop` must be that name).
import { reactive, ref, type Ref } from 'vue'
import { ElMessage } from 'element-plus'
import { errorMessage } from '@/api/errors'
import { i18n } from '@/locales'

export interface PageData<T> {
  items: T[]
  total: number
  page: number
  page_size: number
}

type Filters = Record<string, unknown>
type Query<F extends Filters> = { page: number; page_size: number; sort?: string } & Partial<F>

export interface TableOptions<F extends Filters> {
  filters?: F
  sort?: string
  pageSize?: number
}

export function useTable<T, F extends Filters = Filters>(
  fetchPage: (query: Query<F>) => Promise<{ data: PageData<T> }>,
  options: TableOptions<F> = {},
) {
  const initial = { ...(options.filters ?? ({} as F)) }
  const filters = reactive({ ...initial }) as F
  const rows = ref([]) as Ref<T[]>
  const total = ref(0)
  const page = ref(1)
  const pageSize = ref(options.pageSize ?? 10)
  const sort = ref<string | undefined>(options.sort)
  const loading = ref(false)
  let latest = 0

  function query(): Query<F> {
    const sent: Record<string, unknown> = { page: page.value, page_size: pageSize.value }
    if (sort.value) sent.sort = sort.value
    for (const [key, value] of Object.entries(filters)) {
      if (value !== '' && value !== null && value !== undefined) sent[key] = value
    }
    return sent as Query<F>
  }

  async function load(): Promise<void> {
    const ticket = ++latest
    loading.value = true
    try {
      const body = await fetchPage(query())
      if (ticket !== latest) return // an older answer arriving late
      rows.value = body.data.items
      total.value = body.data.total
      if (rows.value.length === 0 && page.value > 1 && total.value > 0) {
        page.value = Math.ceil(total.value / pageSize.value)
        await load()
      }
    } catch (error) {
      if (ticket === latest) ElMessage.error(errorMessage(error, i18n.global.t))
    } finally {
      if (ticket === latest) loading.value = false
    }
  }

  /** Filters changed: back to page 1. */
  function search(): Promise<void> {
    page.value = 1
    return load()
  }

  function reset(): Promise<void> {
    Object.assign(filters, initial)
    sort.value = options.sort
    return search()
  }

  function onSort({ prop, order }: { prop: string | null; order: 'ascending' | 'descending' | null }): void {
    sort.value = prop && order ? (order === 'descending' ? `-${prop}` : prop) : options.sort
    void search()
  }

  return { rows, total, page, pageSize, sort, filters, loading, load, search, reset, onSort }
}
