// v-perm="'system:position:create'" (or an array: all codes needed): the element is shown only
// when the user holds the permission, and follows the permissions reactively (a new sign-in
// with more grants shows it). The server enforces every permission regardless.
import { watchEffect, type Directive, type WatchStopHandle } from 'vue'
import { useAuthStore } from '@/stores/auth'

type Codes = string | string[]
const stops = new WeakMap<HTMLElement, WatchStopHandle>()
const values = new WeakMap<HTMLElement, { codes: Codes }>()

export const perm: Directive<HTMLElement, Codes> = {
  mounted(el, binding) {
    const auth = useAuthStore()
    const holder = { codes: binding.value }
    values.set(el, holder)
    const display = el.style.display
    stops.set(
      el,
      watchEffect(() => {
        el.style.display = auth.can(holder.codes) ? display : 'none'
      }),
    )
  },
  updated(el, binding) {
    const holder = values.get(el)
    if (holder && holder.codes !== binding.value) {
      holder.codes = binding.value
      el.style.display = useAuthStore().can(binding.value) ? '' : 'none'
    }
  },
  unmounted(el) {
    stops.get(el)?.()
    stops.delete(el)
    values.delete(el)
  },
}

/** can('system:position:create') in script code: the same rule as v-perm. */
export function can(code: Codes): boolean {
  return useAuthStore().can(code)
}
