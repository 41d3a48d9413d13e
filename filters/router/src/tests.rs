//! The module's stream logic on the fake host: the headers, replies and properties Envoy
//! would get, without Envoy.

// Tests stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use engine::request::HeaderList;
use engine::route_properties::{self, PublishedRoute};
use engine::router::{RouteTable, CLUSTER_HEADER, UNKNOWN_SERVICE_DETAILS};
use engine::RequestView;
use host::{FakeHost, FakeVm, FaultInjection, HostCall};
use proxy_wasm::types::Action;

use super::stats::MirrorStats;
use super::{Routed, RouterStream};

const CONFIG: &str = r#"{
  "gateway": "istio-system/gw",
  "servicePorts": {"reviews.default.svc.cluster.local": [9080]},
  "virtualServices": [{"name": "bookinfo", "namespace": "default", "spec": {
    "hosts": ["*"], "gateways": ["istio-system/gw"],
    "http": [
      {"name": "old", "match": [{"uri": {"prefix": "/old/"}}],
       "redirect": {"uri": "/new/"},
       "headers": {"response": {"set": {"strict-transport-security": "max-age=1"}}}},
      {"name": "details", "match": [{"uri": {"prefix": "/details"}}],
       "route": [{"destination": {"host": "details", "port": {"number": 9080}}}]},
      {"name": "reviews", "match": [{"uri": {"prefix": "/api/"}}],
       "rewrite": {"uri": "/"},
       "timeout": "2s",
       "corsPolicy": {"allowOrigins": [{"exact": "https://app.example"}]},
       "headers": {"request": {"set": {"x-via": "gateway"}},
                   "response": {"set": {"x-served-for": "%REQ(end-user)%"}}},
       "route": [{"destination": {"host": "reviews", "subset": "v1"}}]}
    ]}}]
}"#;

fn stream() -> RouterStream {
    RouterStream::<host::ProxyWasm> {
        root_id: 1,
        stream_id: 2,
        table: Some(Rc::new(RouteTable::from_json(CONFIG.as_bytes()).unwrap())),
        faults: None,
        mirror_stats: None,
        mirror: None,
        cors_headers: Vec::new(),
        response_edits: None,
    }
}

fn ok() -> HeaderList {
    HeaderList::default().with(":status", "200")
}

const REVIEWS: &str = "outbound|9080|v1|reviews.default.svc.cluster.local";

#[test]
fn a_forwarded_request_names_its_cluster_and_asks_envoy_to_route_again() {
    let mut stream = stream();
    let mut host = FakeHost::new(HeaderList::get("shop", "/api/reviews/1"));
    assert!(matches!(
        stream.on_request_headers(&mut host),
        Routed::Forwarded { fault: None }
    ));
    assert_eq!(
        host.request.header(CLUSTER_HEADER).as_deref(),
        Some(REVIEWS)
    );
    assert_eq!(host.request.header(":path").as_deref(), Some("/reviews/1"));
    assert_eq!(host.request.header("x-via").as_deref(), Some("gateway"));
    assert_eq!(
        host.request
            .header("x-envoy-upstream-rq-timeout-ms")
            .as_deref(),
        Some("2000")
    );
    assert_eq!(host.route_cache_clears, 1);
    assert_eq!(
        host.properties,
        [(
            route_properties::ROUTE.to_string(),
            format!("reviews default/bookinfo {REVIEWS}")
        )]
    );
    assert!(host.local_replies.is_empty());
}

/// The route goes to the modules after the router in one `set_property`, not one per value.
#[test]
fn a_forwarded_request_publishes_its_route_in_one_host_call() {
    let mut stream = stream();
    let mut host = FakeHost::new(HeaderList::get("shop", "/api/reviews/1"));
    stream.on_request_headers(&mut host);
    let published: Vec<HostCall> = host
        .calls()
        .into_iter()
        .filter(|call| matches!(call, HostCall::SetProperty(_)))
        .collect();
    assert_eq!(
        published,
        [HostCall::SetProperty(route_properties::ROUTE.to_string())]
    );
    let value = &host.properties[0].1;
    assert_eq!(
        PublishedRoute::decode(value),
        Some(PublishedRoute {
            route_name: "reviews".into(),
            virtual_service: "default/bookinfo".into(),
            cluster: REVIEWS.into(),
        })
    );
}

/// `publishRoute: false`: nothing reads the route after the router, so no call publishes it.
#[test]
fn a_router_configured_not_to_publish_makes_no_property_call() {
    let config = CONFIG.replacen('{', r#"{"publishRoute": false,"#, 1);
    let mut stream = stream();
    stream.table = Some(Rc::new(RouteTable::from_json(config.as_bytes()).unwrap()));
    let mut host = FakeHost::new(HeaderList::get("shop", "/api/reviews/1"));
    assert!(matches!(
        stream.on_request_headers(&mut host),
        Routed::Forwarded { fault: None }
    ));
    assert!(host.properties.is_empty());
    assert!(!host
        .calls()
        .iter()
        .any(|call| matches!(call, HostCall::SetProperty(_))));
}

/// A client's own `x-route-cluster` never routes a request, even where Envoy's early header
/// mutation did not remove it: a forward overwrites it, no route removes it. (The router-control
/// `x-envoy-*` headers and the other contract headers are Envoy's to strip: the module looks
/// for none of them.)
#[test]
fn a_client_cannot_choose_the_cluster() {
    let client_cluster = "outbound|80||secret.default.svc.cluster.local";
    let mut stream = stream();
    let mut host =
        FakeHost::new(HeaderList::get("shop", "/nothing").with(CLUSTER_HEADER, client_cluster));
    assert!(matches!(
        stream.on_request_headers(&mut host),
        Routed::NotForwarded(Action::Continue)
    ));
    assert_eq!(host.request.header(CLUSTER_HEADER), None);
    assert_eq!(host.route_cache_clears, 0);

    let mut host = FakeHost::new(
        HeaderList::get("shop", "/api/reviews/1").with(CLUSTER_HEADER, client_cluster),
    );
    stream.on_request_headers(&mut host);
    assert_eq!(
        host.request.header(CLUSTER_HEADER).as_deref(),
        Some(REVIEWS)
    );
}

/// A forward looks up only what its route reads, one host call each, and never reads the whole
/// header map: `:path` (once, however often the matching and the rewrite ask), `origin` for
/// the route's CORS policy and `end-user` for its response header template; `:authority` only
/// where a host other than `*` could select another VirtualService.
#[test]
fn a_forward_looks_up_only_what_its_route_reads() {
    let header_reads = |config: &str| {
        let mut stream = stream();
        stream.table = Some(Rc::new(RouteTable::from_json(config.as_bytes()).unwrap()));
        let mut host = FakeHost::new(HeaderList::get("shop.example.com", "/api/reviews/1"));
        stream.on_request_headers(&mut host);
        assert_eq!(
            host.request.header(CLUSTER_HEADER).as_deref(),
            Some(REVIEWS)
        );
        host.take_calls()
            .into_iter()
            .filter(|call| matches!(call, HostCall::ReadHeader(..) | HostCall::ReadHeaderMap(..)))
            .collect::<Vec<HostCall>>()
    };
    let one = |name: &str| HostCall::ReadHeader(host::HeaderMapKind::Request, name.to_owned());
    assert_eq!(
        header_reads(CONFIG),
        [one(":path"), one("origin"), one("end-user")]
    );
    let named_host = CONFIG.replace(r#""hosts": ["*"]"#, r#""hosts": ["shop.example.com"]"#);
    assert_eq!(
        header_reads(&named_host),
        [
            one(":authority"),
            one(":path"),
            one("origin"),
            one("end-user")
        ]
    );
}

/// The route's response operations read the request as it arrived; Envoy hides it by the
/// response, so a shell that read it then would send an empty `x-served-for`.
#[test]
fn route_response_headers_and_cors_apply_to_the_upstream_response() {
    let mut stream = stream();
    let mut host = FakeHost::new(
        HeaderList::get("shop", "/api/reviews")
            .with("end-user", "jason")
            .with("origin", "https://app.example"),
    );
    stream.on_request_headers(&mut host);
    host.respond(ok());
    stream.on_response_headers(&mut host);
    assert_eq!(
        host.response.header("x-served-for").as_deref(),
        Some("jason")
    );
    assert_eq!(
        host.response
            .header("access-control-allow-origin")
            .as_deref(),
        Some("https://app.example")
    );
}

/// A redirect (Istio's `uri` replaces the whole path) is answered here, and the route's response headers apply to that answer when it
/// passes back through the module, as Envoy's router applies them to its own redirects.
#[test]
fn a_redirect_is_a_local_reply_that_gets_the_route_response_headers() {
    let mut stream = stream();
    let mut host = FakeHost::new(HeaderList::get("shop", "/old/page"));
    assert!(matches!(
        stream.on_request_headers(&mut host),
        Routed::NotForwarded(Action::Pause)
    ));
    let [reply] = host.local_replies.as_slice() else {
        panic!("one local reply: {:?}", host.local_replies);
    };
    assert_eq!(reply.status, 301);
    assert_eq!(
        reply.headers,
        [("location".to_string(), "http://shop/new/".to_string())]
    );
    assert_eq!(host.request.header(CLUSTER_HEADER), None);
    host.respond(HeaderList::default().with(":status", "301"));
    stream.on_response_headers(&mut host);
    assert_eq!(
        host.response.header("strict-transport-security").as_deref(),
        Some("max-age=1")
    );
}

#[test]
fn a_service_the_registry_lacks_gets_a_503_with_the_modules_details() {
    let mut stream = stream();
    let mut host = FakeHost::new(HeaderList::get("shop", "/details"));
    assert!(matches!(
        stream.on_request_headers(&mut host),
        Routed::NotForwarded(Action::Pause)
    ));
    let [reply] = host.local_replies.as_slice() else {
        panic!("one local reply: {:?}", host.local_replies);
    };
    assert_eq!(reply.status, 503);
    assert_eq!(reply.details, UNKNOWN_SERVICE_DETAILS);
    assert!(reply.body.is_empty());
    assert_eq!(host.request.header(CLUSTER_HEADER), None);
}

#[test]
fn no_route_leaves_the_request_to_envoys_404() {
    let mut stream = stream();
    let mut host = FakeHost::new(HeaderList::get("shop", "/nothing"));
    assert!(matches!(
        stream.on_request_headers(&mut host),
        Routed::NotForwarded(Action::Continue)
    ));
    assert_eq!(host.request.header(CLUSTER_HEADER), None);
    assert!(host.local_replies.is_empty());
    assert!(host.properties.is_empty());
    host.respond(HeaderList::default().with(":status", "404"));
    stream.on_response_headers(&mut host);
    assert_eq!(host.response.header("x-served-for"), None);
}

const MIRRORED: &str = r#"{
  "mirrorMaxBodyBytes": 16,
  "virtualServices": [{"name": "shop", "namespace": "default", "spec": {
    "hosts": ["*"],
    "http": [{"route": [{"destination": {"host": "shop"}}], "retries": {"attempts": 1},
              "mirror": {"host": "shadow"}, "mirrorPercentage": {"value": 100}}]}}]
}"#;

const SHADOW: &str = "outbound|80||shadow.default.svc.cluster.local";

/// A VM's shared state on the fake VM host, and a stream of it.
fn mirrored_stream() -> RouterStream<FakeVm> {
    let faults = Rc::new(FaultInjection::start("router.fault", FakeVm::new()).unwrap());
    RouterStream {
        root_id: 1,
        stream_id: 2,
        table: Some(Rc::new(RouteTable::from_json(MIRRORED.as_bytes()).unwrap())),
        mirror_stats: Some(Rc::new(MirrorStats::define(faults.host()).unwrap())),
        faults: Some(faults),
        mirror: None,
        cors_headers: Vec::new(),
        response_edits: None,
    }
}

fn vm(stream: &RouterStream<FakeVm>) -> &FakeVm {
    stream.faults.as_ref().unwrap().host()
}

/// The copy goes out once the request has ended, from the root context (so it outlives the
/// stream), with the shadow authority, the whole body and the trailers, and without the
/// cluster header the router set for Envoy; the stream is current again afterwards.
#[test]
fn a_mirror_copies_the_whole_request_and_goes_out_from_the_root_when_it_ends() {
    let mut stream = mirrored_stream();
    let mut host = FakeHost::new(HeaderList::get("shop", "/upload"));
    assert_eq!(
        stream.on_request_headers_event(&mut host, false),
        Action::Continue
    );
    for chunk in ["hello ", "world"] {
        host.request_body_chunk = chunk.as_bytes().to_vec();
        stream.on_request_body(&host, chunk.len(), false);
    }
    assert!(vm(&stream).dispatched().is_empty(), "sent before the end");
    host.request_trailers = vec![("x-checksum".to_string(), "42".to_string())];
    stream.on_request_trailers(&host);

    let [call] = vm(&stream).dispatched().try_into().unwrap();
    assert_eq!((call.root_id, call.cluster.as_str()), (1, SHADOW));
    let header = |name: &str| {
        call.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(header(":authority"), Some("shop-shadow"));
    assert_eq!(header(":path"), Some("/upload"));
    assert_eq!(header(CLUSTER_HEADER), None);
    assert_eq!(header(engine::router::CUSTOM_RETRIES_HEADER), None);
    assert_eq!(call.body.as_deref(), Some(b"hello world".as_slice()));
    assert_eq!(call.trailers, host.request_trailers);
    assert_eq!(vm(&stream).entered_stream(), Some(2));
    assert_eq!(vm(&stream).metric("router.mirror.sent"), Some(1));
}

#[test]
fn a_request_without_a_body_is_mirrored_with_its_headers() {
    let mut stream = mirrored_stream();
    let mut host = FakeHost::new(HeaderList::get("shop", "/"));
    stream.on_request_headers_event(&mut host, true);
    let [call] = vm(&stream).dispatched().try_into().unwrap();
    assert_eq!(call.body, None);
    assert_eq!(vm(&stream).metric("router.mirror.sent"), Some(1));
}

/// Past `mirrorMaxBodyBytes` the copy is given up: nothing goes out, and a stat says why.
#[test]
fn a_body_over_the_mirror_limit_is_not_mirrored() {
    let mut stream = mirrored_stream();
    let mut host = FakeHost::new(HeaderList::get("shop", "/upload"));
    stream.on_request_headers_event(&mut host, false);
    host.request_body_chunk = vec![b'x'; 17];
    stream.on_request_body(&host, 17, true);
    assert!(vm(&stream).dispatched().is_empty());
    assert_eq!(
        vm(&stream).metric("router.mirror.skipped_body_too_large"),
        Some(1)
    );
    assert_eq!(vm(&stream).metric("router.mirror.sent"), Some(0));
}
