// wgsl_reflect's "main" is CommonJS inside a "type":"module" package; we import its ES module build directly.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
