;; Route-cache probe: calls Envoy's `clear_route_cache` foreign function in on_request_headers
;; and reports the host's answer in the request header `x-probe-clear-route-cache` as one
;; character, '0' + the proxy-wasm status (0 Ok, 1 NotFound, 2 BadArgument, ...).
;; Assembled with binaryen's wasm-as by envoy-test/tests/route_cache.rs.
(module
  (import "env" "proxy_call_foreign_function"
    (func $call_foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value"
    (func $replace_header (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "clear_route_cache")
  (data (i32.const 48) "x-probe-clear-route-cache")
  ;; 96: the reported character; 100 and 104: where the host writes the (unused) result.
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
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $status i32)
    (local.set $status (call $call_foreign
      (i32.const 16) (i32.const 17) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 104)))
    (i32.store8 (i32.const 96) (i32.add (i32.const 48) (local.get $status)))
    (drop (call $replace_header
      (i32.const 0) (i32.const 48) (i32.const 25) (i32.const 96) (i32.const 1)))
    (i32.const 0))
)
