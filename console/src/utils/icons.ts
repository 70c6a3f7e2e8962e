// Menu icons: the `icon` names menus carry (RuoYi's vocabulary, e.g. `peoples`, `tree-table`)
// mapped to Element Plus icons. Only these are bundled; an unknown name shows `Menu`.
import type { Component } from 'vue'
import {
  Bell, Box, Calendar, Coin, Collection, Cpu, Document, DocumentCopy, Edit, Files, Folder, Grid, House,
  List, Menu, Monitor, Notebook, OfficeBuilding, Postcard, Reading, Setting, Tickets, Timer, Upload,
  User, UserFilled, Connection,
} from '@element-plus/icons-vue'

const ICONS: Record<string, Component> = {
  home: House,
  setting: Setting,
  system: Setting,
  user: User,
  peoples: UserFilled,
  'tree-table': Menu,
  tree: OfficeBuilding,
  post: Postcard,
  dict: Collection,
  edit: Edit,
  message: Bell,
  log: Notebook,
  form: Tickets,
  logininfor: Document,
  monitor: Monitor,
  online: Connection,
  server: Cpu,
  redis: Coin,
  job: Timer,
  list: List,
  upload: Upload,
  component: Grid,
  documentation: Reading,
  folder: Folder,
  calendar: Calendar,
  files: Files,
  box: Box,
  copy: DocumentCopy,
}

export function iconFor(name: string | null | undefined): Component {
  return (name && ICONS[name]) || Menu
}

/** The icon names that show a picture (offered by the menu form). */
export const ICON_NAMES: readonly string[] = Object.keys(ICONS)
