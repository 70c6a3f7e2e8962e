// Site name, logo, sign-in title and footer from the public GET /api/v1/system/branding.
import { ref, type Ref } from 'vue'
import { api } from '@/api/client'
import type { components } from '@/api/schema'

export type Branding = components['schemas']['BrandingRead']

const branding = ref<Branding | null>(null)
let loading: Promise<void> | null = null

export function useBranding(): Ref<Branding | null> {
  if (!loading) {
    loading = api
      .GET('/api/v1/system/branding')
      .then(({ data }) => {
        if (data) branding.value = data.data
      })
      .catch(() => undefined)
  }
  return branding
}
