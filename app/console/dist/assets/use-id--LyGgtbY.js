import{Bt as e,Dn as t,F as n,Ht as r,M as i,jn as a,vr as o}from"./index-jnryPyjW.js";var s={prefix:Math.floor(Math.random()*1e4),current:0},c=Symbol(`elIdInjection`),l=()=>t()?a(c,s):s,u=t=>{let a=l();!r&&a===s&&n(`IdInjection`,`Looks like you are using server rendering, you must provide a id provider to ensure the hydration process to be succeed
usage: app.provide(ID_INJECTION_KEY, {
  prefix: number,
  current: number,
})`);let c=i();return e(()=>o(t)||`${c.value}-id-${a.prefix}-${a.current++}`)};export{l as n,u as t};