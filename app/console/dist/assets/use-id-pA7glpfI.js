import{P as e,Rt as t,Sn as n,Tn as r,j as i,ur as a,zt as o}from"./index-DwWDiSuO.js";var s={prefix:Math.floor(Math.random()*1e4),current:0},c=Symbol(`elIdInjection`),l=()=>n()?r(c,s):s,u=n=>{let r=l();!o&&r===s&&e(`IdInjection`,`Looks like you are using server rendering, you must provide a id provider to ensure the hydration process to be succeed
usage: app.provide(ID_INJECTION_KEY, {
  prefix: number,
  current: number,
})`);let c=i();return t(()=>a(n)||`${c.value}-id-${r.prefix}-${r.current++}`)};export{l as n,u as t};