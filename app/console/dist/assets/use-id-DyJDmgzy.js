import{Bt as e,Cn as t,En as n,F as r,M as i,dr as a,zt as o}from"./index-B10IUhHH.js";var s={prefix:Math.floor(Math.random()*1e4),current:0},c=Symbol(`elIdInjection`),l=()=>t()?n(c,s):s,u=t=>{let n=l();!e&&n===s&&r(`IdInjection`,`Looks like you are using server rendering, you must provide a id provider to ensure the hydration process to be succeed
usage: app.provide(ID_INJECTION_KEY, {
  prefix: number,
  current: number,
})`);let c=i();return o(()=>a(t)||`${c.value}-id-${n.prefix}-${n.current++}`)};export{l as n,u as t};