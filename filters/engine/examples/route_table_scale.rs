//! How the router's compiled table scales with the number of routes, natively: compile time
//! of `RouteTable::from_json`, heap bytes (peak while compiling and kept after), and the time of
//! one `select`, for synthetic tables shaped like the benchmark suite's (route `i` matches
//! `uri.regex: /api/v[0-9]+/s<i>/[a-z]+/[0-9]+` or `uri.prefix: /s<i>/` and sends to `svc<i % 8>`).
//!
//! `cargo run --release -p engine --example route_table_scale [routes...]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use engine::request::HeaderList;
use engine::router::{Decision, RouteTable};

/// Counts live heap bytes and their peak; the only way to see what a table costs in memory.
struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[derive(Clone, Copy)]
enum Kind {
    Regex,
    Prefix,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Regex => "regex",
            Kind::Prefix => "prefix",
        }
    }

    fn pattern(self, route: usize) -> String {
        match self {
            Kind::Regex => format!("/api/v[0-9]+/s{route}/[a-z]+/[0-9]+"),
            Kind::Prefix => format!("/s{route}/"),
        }
    }

    /// A path route `route` matches and no earlier route does.
    fn path(self, route: usize) -> String {
        match self {
            Kind::Regex => format!("/api/v2/s{route}/items/42"),
            Kind::Prefix => format!("/s{route}/items/42"),
        }
    }
}

fn config(kind: Kind, routes: usize) -> String {
    let http: Vec<String> = (0..routes)
        .map(|route| {
            format!(
                r#"{{"name": "r{route}", "match": [{{"uri": {{"{}": "{}"}}}}], "route": [{{"destination": {{"host": "svc{}", "port": {{"number": 80}}}}}}]}}"#,
                kind.name(),
                kind.pattern(route),
                route % 8
            )
        })
        .collect();
    format!(r#"{{"hosts": ["*"], "http": [{}]}}"#, http.join(","))
}

fn main() -> Result<(), engine::ConfigError> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 1_000, 10_000]
    } else {
        sizes
    };
    println!(
        "{:<7} {:>7} {:>11} {:>14} {:>14} {:>14}",
        "kind", "routes", "compile ms", "peak heap B", "kept heap B", "select ns/op"
    );
    for kind in [Kind::Regex, Kind::Prefix] {
        for &routes in &sizes {
            measure(kind, routes)?;
        }
    }
    Ok(())
}

fn measure(kind: Kind, routes: usize) -> Result<(), engine::ConfigError> {
    let json = config(kind, routes);
    // Fastest of a few compiles: the least disturbed by the other work on the machine.
    let mut compile = Duration::MAX;
    let mut peak = 0;
    let mut kept = 0;
    let mut table = RouteTable::default();
    for _ in 0..3 {
        drop(std::mem::take(&mut table));
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let start = Instant::now();
        table = RouteTable::from_json(json.as_bytes())?;
        compile = compile.min(start.elapsed());
        peak = PEAK.load(Ordering::Relaxed) - before;
        kept = LIVE.load(Ordering::Relaxed) - before;
    }
    let samples = routes.min(101);
    let requests: Vec<(HeaderList, String)> = (0..samples)
        .map(|sample| sample * (routes - 1) / (samples - 1).max(1))
        .map(|route| {
            (
                HeaderList::get("gateway.example.com", &kind.path(route)),
                format!("svc{}.", route % 8),
            )
        })
        .collect();
    for (request, cluster) in &requests {
        match table.select(request, &mut || 0) {
            Decision::Forward(forward) if forward.cluster.contains(cluster.as_str()) => {}
            other => {
                eprintln!("wrong decision for {request:?}: {other:?}");
                std::process::exit(1);
            }
        }
    }
    let mut selects = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) || selects < requests.len() as u64 {
        for (request, _) in &requests {
            black_box(table.select(black_box(request), &mut || 0));
        }
        selects += requests.len() as u64;
    }
    let select_ns = start.elapsed().as_nanos() as f64 / selects as f64;
    println!(
        "{:<7} {:>7} {:>11.1} {:>14} {:>14} {:>14.0}",
        kind.name(),
        routes,
        compile.as_secs_f64() * 1000.0,
        peak,
        kept,
        select_ns
    );
    Ok(())
}
