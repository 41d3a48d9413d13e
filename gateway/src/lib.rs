//! `make gateway`: a local stand-in for istio-ingressgateway on a stock Envoy, built from the
//! Istio resources of a directory (WasmPlugin/TrafficExtension, VirtualService, ServiceEntry,
//! DestinationRule, Gateway, Kubernetes Service); and `gateway render`, the router's manifests
//! for a real cluster from the same directory. See README.md, "Running an Istio config locally".

pub mod access_log;
pub mod analysis;
pub mod check;
pub mod cluster_policy;
pub mod clusters;
pub mod credentials;
pub mod error;
pub mod explain;
pub mod finding;
pub mod kinds;
pub mod labels;
pub mod listeners;
pub mod outcome;
pub mod plan;
pub mod plugins;
pub mod render;
pub mod request;
pub mod resources;
pub mod route_test;
pub mod routing;
pub mod servers;
pub mod service_ports;
pub mod watch;
