// Build of the console: served by the app at /console/, written into the Python package.
// `sourceHash` stamps a hash of the sources into dist/build-info.json; the Python test
// tests/modules/console/test_build.py computes the same hash (keep the two in step).
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig, type Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'
import AutoImport from 'unplugin-auto-import/vite'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

const root = fileURLToPath(new URL('.', import.meta.url))
// What the build is made of; the lockfile pins every dependency.
const SOURCES = ['src', 'public', 'index.html', 'package.json', 'package-lock.json', 'vite.config.ts', 'tsconfig.json']

function files(path: string): string[] {
  if (statSync(path).isDirectory()) {
    return readdirSync(path).flatMap((name) => files(join(path, name)))
  }
  return [path]
}

/** sha256 over "<path>\n<sha256 of content>\n" for every source file, sorted by path. */
export function sourceHash(): string {
  const all = SOURCES.flatMap((name) => files(join(root, name)))
    .map((path) => relative(root, path).split(sep).join('/'))
    .sort()
  const hash = createHash('sha256')
  for (const path of all) {
    const content = createHash('sha256').update(readFileSync(join(root, path))).digest('hex')
    hash.update(`${path}\n${content}\n`)
  }
  return hash.digest('hex')
}

function buildInfo(): Plugin {
  return {
    name: 'build-info',
    apply: 'build',
    generateBundle() {
      const info = { source_hash: sourceHash() }
      this.emitFile({ type: 'asset', fileName: 'build-info.json', source: JSON.stringify(info, null, 2) + '\n' })
    },
  }
}

export default defineConfig({
  base: '/console/',
  plugins: [
    vue(),
    AutoImport({ resolvers: [ElementPlusResolver()], dts: 'types/auto-imports.d.ts' }),
    Components({ resolvers: [ElementPlusResolver({ importStyle: 'css' })], dts: 'types/components.d.ts', dirs: [] }),
    buildInfo(),
  ],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  define: {
    __VUE_OPTIONS_API__: 'true',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    __VUE_I18N_FULL_INSTALL__: 'false',
    __VUE_I18N_LEGACY_API__: 'false',
    __INTLIFY_PROD_DEVTOOLS__: 'false',
    __INTLIFY_JIT_COMPILATION__: 'true',
    __INTLIFY_DROP_MESSAGE_COMPILER__: 'false',
  },
  build: {
    outDir: '../app/console/dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    modulePreload: { polyfill: false },
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
    rolldownOptions: {
      output: {
        // The merged Element Plus parts are named after the pages sharing them: keep it short.
        chunkFileNames: (chunk) => `assets/${chunk.name.startsWith('element-plus~') ? 'element-plus' : '[name]'}-[hash].js`,
        codeSplitting: {
          groups: [
            {
              // Element Plus and its helpers: split by which pages use them (so the sign-in page
              // loads only its own part), with small parts merged into larger ones. Left to
              // itself the bundler makes a chunk (and a stylesheet) per component style: a
              // first visit of the users page fetched 66 files after the menus.
              name: 'element-plus',
              test: /node_modules[\\/](element-plus|@element-plus|lodash-es|lodash-unified|@vueuse|@floating-ui|@popperjs|async-validator|dayjs|@ctrl|normalize-wheel-es|memoize-one)[\\/]/,
              entriesAware: true,
              entriesAwareMergeThreshold: 48 * 1024,
            },
          ],
        },
      },
    },
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8001' },
  },
})
