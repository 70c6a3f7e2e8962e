// Translations: one JSON file per namespace and language, src/locales/<lang>/<namespace>.json,
// used as t('<namespace>.<key>') (e.g. t('position.title') from position.json). A page's
// strings live in its own namespace file so that pages can be added without conflicts.
import { createI18n } from 'vue-i18n'

export const LANGUAGES = ['en', 'zh-CN'] as const
export type Language = (typeof LANGUAGES)[number]
const STORAGE_KEY = 'fa.lang'

type Messages = Record<string, Record<string, unknown>>
const files = import.meta.glob<Record<string, unknown>>('./*/*.json', { eager: true, import: 'default' })
const messages: Record<string, Messages> = {}
for (const [path, content] of Object.entries(files)) {
  const [, lang, namespace] = /^\.\/([^/]+)\/([^/]+)\.json$/.exec(path) ?? []
  if (!lang || !namespace) continue
  messages[lang] = { ...messages[lang], [namespace]: content }
}

/** The remembered choice, else the browser's first language we have, else English. */
export function initialLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY)
  if (saved && (LANGUAGES as readonly string[]).includes(saved)) return saved as Language
  for (const wanted of navigator.languages ?? [navigator.language]) {
    if (wanted.toLowerCase().startsWith('zh')) return 'zh-CN'
    if (wanted.toLowerCase().startsWith('en')) return 'en'
  }
  return 'en'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLanguage(),
  fallbackLocale: 'en',
  messages: messages as Record<Language, Messages>,
  missingWarn: false,
  fallbackWarn: false,
})

export function setLanguage(lang: Language): void {
  i18n.global.locale.value = lang
  localStorage.setItem(STORAGE_KEY, lang)
  document.documentElement.lang = lang
}
