import{Ht as e,L as t,Nn as n,P as r,Wt as i,br as a,kn as o}from"./index-BDwo-50E.js";var s={prefix:Math.floor(Math.random()*1e4),current:0},c=Symbol(`elIdInjection`),l=()=>o()?n(c,s):s,u=n=>{let o=l();!i&&o===s&&t(`IdInjection`,`Looks like you are using server rendering, you must provide a id provider to ensure the hydration process to be succeed
usage: app.provide(ID_INJECTION_KEY, {
  prefix: number,
  current: number,
})`);let c=r();return e(()=>a(n)||`${c.value}-id-${o.prefix}-${o.current++}`)};export{l as n,u as t};