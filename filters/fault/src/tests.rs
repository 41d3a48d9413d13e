//! The module's stream logic and the fault runtime on the fake hosts: the pauses, resumes,
//! replies and active-fault slots Envoy would see, without Envoy.

// Tests stop at the first surprise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;
use std::time::Duration;

use engine::fault::{FaultRules, ABORT_BODY, ABORT_DETAILS};
use engine::request::HeaderList;
use host::{FakeHost, FakeVm, FaultInjection, HeaderMapKind, HostCall, SentReply};
use proxy_wasm::types::Action;

use super::FaultStream;

const ABORT: &str = r#"{"rules": [{"abort": {"httpStatus": 503, "percentage": {"value": 100}}}]}"#;

const DELAY: &str =
    r#"{"rules": [{"delay": {"fixedDelay": "100ms", "percentage": {"value": 100}}}]}"#;

/// Streams of one VM: its rules and its fault runtime on a fake VM.
struct Vm {
    rules: Rc<FaultRules>,
    runtime: Rc<FaultInjection<FakeVm>>,
}

impl Vm {
    fn new(config: &str) -> Self {
        Self {
            rules: Rc::new(FaultRules::from_json(config.as_bytes()).unwrap()),
            runtime: Rc::new(FaultInjection::start("fault", FakeVm::new()).unwrap()),
        }
    }

    fn stream(&self, id: u32) -> FaultStream<FakeVm> {
        FaultStream {
            id,
            rules: Some(self.rules.clone()),
            runtime: Some(self.runtime.clone()),
        }
    }

    fn host(&self) -> &FakeVm {
        self.runtime.host()
    }

    /// The root's tick, `by` after the last.
    fn tick_after(&self, by: Duration) {
        self.host().advance(by);
        self.runtime.on_tick();
    }

    fn metric(&self, name: &str) -> i64 {
        self.host().metric(&format!("fault.{name}")).unwrap()
    }
}

fn request() -> FakeHost {
    FakeHost::new(HeaderList::get("shop", "/ratings"))
}

fn abort_reply(status: u32) -> SentReply {
    SentReply {
        status,
        headers: Vec::new(),
        body: ABORT_BODY.as_bytes().to_vec(),
        details: ABORT_DETAILS.to_string(),
        grpc_status: None,
    }
}

#[test]
fn an_abort_answers_the_stream_at_once_and_frees_its_slot_when_done() {
    let vm = Vm::new(ABORT);
    let stream = vm.stream(7);
    let mut host = request();
    assert_eq!(stream.on_request_headers(&mut host), Action::Pause);
    assert_eq!(host.local_replies, [abort_reply(503)]);
    assert_eq!(vm.metric("aborts_injected"), 1);
    assert_eq!(vm.metric("active_faults"), 1);
    stream.finish();
    assert_eq!(vm.metric("active_faults"), 0);
    // Nothing was left to the tick.
    assert_eq!(vm.host().tick_period(), Duration::ZERO);
}

#[test]
fn a_grpc_abort_is_a_grpc_reply() {
    let vm = Vm::new(
        r#"{"rules": [{"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 100}}}]}"#,
    );
    let mut host = request();
    assert_eq!(vm.stream(7).on_request_headers(&mut host), Action::Pause);
    assert_eq!(
        host.local_replies,
        [SentReply {
            status: 200,
            grpc_status: Some(14),
            ..abort_reply(200)
        }]
    );
}

#[test]
fn a_delay_pauses_the_request_until_the_tick_resumes_it() {
    let vm = Vm::new(DELAY);
    let stream = vm.stream(7);
    let mut host = request();
    assert_eq!(stream.on_request_headers(&mut host), Action::Pause);
    assert!(host.local_replies.is_empty());
    assert_eq!(vm.metric("delays_injected"), 1);
    assert_eq!(vm.host().tick_period(), Duration::from_millis(100));
    // The body and trailers must not push the request on while it waits.
    assert_eq!(stream.hold_while_delayed(), Action::Pause);

    vm.tick_after(Duration::from_millis(60));
    assert!(vm.host().resumed().is_empty());
    assert_eq!(stream.hold_while_delayed(), Action::Pause);

    vm.tick_after(Duration::from_millis(40));
    assert_eq!(vm.host().resumed(), [7]);
    assert_eq!(stream.hold_while_delayed(), Action::Continue);
    // A delay alone stops counting as active when it ends; nothing waits, so the tick is off.
    assert_eq!(vm.metric("active_faults"), 0);
    assert_eq!(vm.host().tick_period(), Duration::ZERO);
    assert!(vm.host().replies().is_empty());
}

#[test]
fn a_delay_then_an_abort_answers_the_delayed_stream_from_the_tick() {
    let vm = Vm::new(
        r#"{"rules": [{"delay": {"fixedDelay": "1s", "percentage": {"value": 100}},
                       "abort": {"httpStatus": 500, "percentage": {"value": 100}}}]}"#,
    );
    let stream = vm.stream(7);
    let mut host = request();
    assert_eq!(stream.on_request_headers(&mut host), Action::Pause);
    assert!(host.local_replies.is_empty());
    assert_eq!(vm.metric("aborts_injected"), 0);

    vm.tick_after(Duration::from_secs(1));
    assert_eq!(vm.host().replies(), [(7, abort_reply(500))]);
    assert!(vm.host().resumed().is_empty());
    assert_eq!(vm.metric("aborts_injected"), 1);
    // The aborted stream holds its slot until it is over.
    assert_eq!(vm.metric("active_faults"), 1);
    stream.finish();
    assert_eq!(vm.metric("active_faults"), 0);
}

#[test]
fn max_active_faults_holds_across_streams_and_a_finished_stream_gives_its_slot_back() {
    let vm = Vm::new(
        r#"{"maxActiveFaults": 1,
            "rules": [{"delay": {"fixedDelay": "100ms", "percentage": {"value": 100}}}]}"#,
    );
    let (first, second, third) = (vm.stream(1), vm.stream(2), vm.stream(3));
    assert_eq!(first.on_request_headers(&mut request()), Action::Pause);
    assert_eq!(second.on_request_headers(&mut request()), Action::Continue);
    assert_eq!(vm.metric("faults_overflow"), 1);
    assert_eq!(vm.metric("active_faults"), 1);

    // The client gives up on the first while it waits: its slot is free, and it is never resumed.
    first.finish();
    vm.host().end_stream(1);
    assert_eq!(vm.metric("active_faults"), 0);
    assert_eq!(third.on_request_headers(&mut request()), Action::Pause);
    vm.tick_after(Duration::from_millis(100));
    assert_eq!(vm.host().resumed(), [3]);
    assert_eq!(vm.metric("active_faults"), 0);
}

#[test]
fn a_stream_the_host_no_longer_knows_gives_its_slot_back_at_the_tick() {
    let vm = Vm::new(DELAY);
    assert_eq!(
        vm.stream(7).on_request_headers(&mut request()),
        Action::Pause
    );
    vm.host().end_stream(7);
    vm.tick_after(Duration::from_millis(100));
    assert!(vm.host().resumed().is_empty());
    assert_eq!(vm.metric("active_faults"), 0);
}

#[test]
fn a_request_no_rule_selects_goes_on_untouched() {
    let vm = Vm::new(
        r#"{"rules": [{"match": [{"uri": {"prefix": "/reviews"}}],
                       "abort": {"httpStatus": 503, "percentage": {"value": 100}}}]}"#,
    );
    let mut host = request();
    assert_eq!(vm.stream(7).on_request_headers(&mut host), Action::Continue);
    assert!(host.local_replies.is_empty());
    assert_eq!(vm.metric("active_faults"), 0);
}

/// The benchmark's config: a delay and an abort, each selected by `x-fault`. A request
/// without the header costs one single-value lookup, for both rules, and nothing else.
#[test]
fn a_request_no_rule_selects_costs_one_header_lookup() {
    let vm = Vm::new(
        r#"{"rules": [
            {"match": [{"headers": {"x-fault": {"exact": "delay"}}}],
             "delay": {"fixedDelay": "300ms", "percentage": {"value": 100}}},
            {"match": [{"headers": {"x-fault": {"exact": "abort"}}}],
             "abort": {"httpStatus": 503, "percentage": {"value": 100}}}
        ]}"#,
    );
    let mut host = FakeHost::new(HeaderList::get("shop", "/ratings").with("x-user", "alice"));
    assert_eq!(vm.stream(7).on_request_headers(&mut host), Action::Continue);
    assert_eq!(
        host.take_calls(),
        [HostCall::ReadHeader(
            HeaderMapKind::Request,
            "x-fault".into()
        )]
    );
}

/// A rule limited to a cluster whose request condition fails never asks for the cluster
/// (the router's header, or Envoy's `xds.cluster_name`).
#[test]
fn the_route_cluster_is_not_looked_up_for_a_rule_whose_match_fails() {
    let vm = Vm::new(
        r#"{"rules": [{"match": [{"headers": {"x-fault": {"exact": "abort"}}}],
                       "upstreamCluster": "outbound|9080||ratings.default.svc.cluster.local",
                       "abort": {"httpStatus": 503, "percentage": {"value": 100}}}]}"#,
    );
    let mut host = request();
    assert_eq!(vm.stream(7).on_request_headers(&mut host), Action::Continue);
    assert_eq!(
        host.take_calls(),
        [HostCall::ReadHeader(
            HeaderMapKind::Request,
            "x-fault".into()
        )]
    );

    // Its condition holds: now the cluster decides.
    let mut host = FakeHost::new(
        HeaderList::get("shop", "/ratings")
            .with("x-fault", "abort")
            .with(
                "x-route-cluster",
                "outbound|9080||ratings.default.svc.cluster.local",
            ),
    );
    assert_eq!(vm.stream(8).on_request_headers(&mut host), Action::Pause);
    assert_eq!(host.local_replies, [abort_reply(503)]);
}
