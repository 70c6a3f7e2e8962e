import { createApp } from 'vue'
import { createPinia } from 'pinia'
import 'element-plus/theme-chalk/dark/css-vars.css'
// Services called from script code (ElMessage, ElMessageBox) bring no styles of their own.
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import './styles/index.css'
import App from './App.vue'
import { i18n } from './locales'
import { router } from './router'
import { perm } from './directives/perm'
import { useAppStore } from './stores/app'

const app = createApp(App)
app.use(createPinia())
app.use(i18n)
app.use(router)
app.directive('perm', perm)
useAppStore().applyTheme()
document.documentElement.lang = String(i18n.global.locale.value)
app.mount('#app')
