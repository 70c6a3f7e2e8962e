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
//
// Large lists (docs/http.md, "Lists"): past the API's exact-count bound `total` is an estimate
// (`total_exact: false`) and each page carries `next_cursor`. Then the pager (ListPager) pages
// with next/previous/first: `next()` sends the cursor (`{cursor, page_size, sort, ...filters}`,
// no `page`), `previous()` goes back through the cursors already used, so no page number past
// the bound is ever sent as an OFFSET; a list without a cursor pages on by page number.
import { reactive, ref, type Ref } from 'vue'
import { ElMessage } from 'element-plus'
import { errorMessage } from '@/api/errors'
import { i18n } from '@/locales'

export interface PageData<T> {
  items: T[]
  total: number
  page: number
  page_size: number
  total_exact?: boolean
  next_cursor?: string | null
}

type Filters = Record<string, unknown>
type Query<F extends Filters> = { page?: number; page_size: number; sort?: string; cursor?: string } & Partial<F>

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
  /** False when `total` is the API's estimate (more rows than it counts exactly). */
  const totalExact = ref(true)
  const nextCursor = ref<string | null>(null)
  // The cursor that read each page reached by `next()` (index: page number; none: by number).
  let cursors: (string | undefined)[] = []
  let latest = 0

  function query(): Query<F> {
    const cursor = cursors[page.value]
    const sent: Record<string, unknown> = cursor ? { cursor, page_size: pageSize.value } : { page: page.value, page_size: pageSize.value }
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
      totalExact.value = body.data.total_exact ?? true
      nextCursor.value = body.data.next_cursor ?? null
      if (rows.value.length === 0 && page.value > 1 && total.value > 0) {
        // Past the end (rows removed meanwhile): the last page, or one back by cursor.
        if (totalExact.value && !cursors[page.value]) page.value = Math.ceil(total.value / pageSize.value)
        else page.value -= 1
        await load()
      }
    } catch (error) {
      if (ticket === latest) ElMessage.error(errorMessage(error, i18n.global.t))
    } finally {
      if (ticket === latest) loading.value = false
    }
  }

  /** A page chosen by number (the numbered pager, exact totals): no cursor. */
  function goTo(number: number): Promise<void> {
    cursors = []
    page.value = number
    return load()
  }

  /** Another page size: back to page 1. */
  function resize(size: number): Promise<void> {
    pageSize.value = size
    return goTo(1)
  }

  /** Filters changed: back to page 1. */
  function search(): Promise<void> {
    return goTo(1)
  }

  /** Whether there is a page after this one (by cursor, or a full page read by number). */
  function hasNext(): boolean {
    return nextCursor.value !== null || (!totalExact.value && rows.value.length === pageSize.value)
  }

  function next(): Promise<void> {
    cursors[page.value + 1] = nextCursor.value ?? undefined
    page.value += 1
    return load()
  }

  function previous(): Promise<void> {
    cursors.length = page.value
    page.value = Math.max(1, page.value - 1)
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

  return {
    rows,
    total,
    totalExact,
    nextCursor,
    page,
    pageSize,
    sort,
    filters,
    loading,
    load,
    search,
    reset,
    onSort,
    goTo,
    resize,
    hasNext,
    next,
    previous,
  }
}

export type Table = ReturnType<typeof useTable<unknown>>
