// The department tree (GET /system/depts/tree) for pickers and filters: the nodes, a
// flat id -> node map (names in lists) and a reload. A caller without `system:dept:list`
// gets an empty tree (the server would refuse it) and the pages show ids instead.
import { computed, ref } from 'vue'
import { api, unwrap } from '@/api/client'
import type { components } from '@/api/schema'
import { can } from '@/directives/perm'

export type DeptNode = components['schemas']['DeptTreeNode']

export function useDeptTree() {
  const tree = ref<DeptNode[]>([])
  const loading = ref(false)

  const byId = computed(() => {
    const map = new Map<number, DeptNode>()
    const walk = (nodes: DeptNode[]) => {
      for (const node of nodes) {
        map.set(node.id, node)
        walk(node.children ?? [])
      }
    }
    walk(tree.value)
    return map
  })

  async function load(): Promise<void> {
    if (!can('system:dept:list')) return
    loading.value = true
    try {
      tree.value = (await unwrap(api.GET('/api/v1/system/depts/tree'))).data
    } catch {
      tree.value = []
    } finally {
      loading.value = false
    }
  }

  function nameOf(id: number | null | undefined): string {
    if (id === null || id === undefined) return ''
    return byId.value.get(id)?.name ?? `#${id}`
  }

  return { tree, byId, loading, load, nameOf }
}

/** Every id of a tree (e.g. to expand it all). */
export function treeIds<T extends { id: number; children?: T[] }>(nodes: T[]): number[] {
  const ids: number[] = []
  const walk = (items: T[]) => {
    for (const item of items) {
      ids.push(item.id)
      walk(item.children ?? [])
    }
  }
  walk(nodes)
  return ids
}
