import{A as e,Lt as t,N as n,Rt as r,lr as i,wn as a,xn as o}from"./index-29cfYk6K.js";var s={prefix:Math.floor(Math.random()*1e4),current:0},c=Symbol(`elIdInjection`),l=()=>o()?a(c,s):s,u=a=>{let o=l();!r&&o===s&&n(`IdInjection`,`Looks like you are using server rendering, you must provide a id provider to ensure the hydration process to be succeed
usage: app.provide(ID_INJECTION_KEY, {
  prefix: number,
  current: number,
})`);let c=e();return t(()=>i(a)||`${c.value}-id-${o.prefix}-${o.current++}`)};export{l as n,u as t};