;; Route-cache probe: a module that only sets the request header `x-probe: set` in
;; on_request_headers and calls nothing else. Whether Envoy then matches the route again shows
;; whether a module's header change clears the route cache by itself (proxy-wasm ABI 0.2.1).
;; Assembled with binaryen's wasm-as by envoy-test/tests/route_cache.rs.
(module
  (import "env" "proxy_replace_header_map_value"
    (func $replace_header (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "x-probe")
  (data (i32.const 32) "set")
  ;; Envoy copies the VM and plugin configurations in; a bump allocator is plenty for them.
  (global $next (mut i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $next))
    (global.set $next
      (i32.add (global.get $next)
        (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (local.get $at))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  ;; map type 0: request headers; action 0: continue.
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $replace_header
      (i32.const 0) (i32.const 16) (i32.const 7) (i32.const 32) (i32.const 3)))
    (i32.const 0))
)
