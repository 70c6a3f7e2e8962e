import{Ft as e,It as t,O as n,Sn as r,j as i,sr as a,yn as o}from"./index-C5GyUVZf.js";var s={prefix:Math.floor(Math.random()*1e4),current:0},c=Symbol(`elIdInjection`),l=()=>o()?r(c,s):s,u=r=>{let o=l();!t&&o===s&&i(`IdInjection`,`Looks like you are using server rendering, you must provide a id provider to ensure the hydration process to be succeed
usage: app.provide(ID_INJECTION_KEY, {
  prefix: number,
  current: number,
})`);let c=n();return e(()=>a(r)||`${c.value}-id-${o.prefix}-${o.current++}`)};export{l as n,u as t};