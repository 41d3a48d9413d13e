//! The fuzz targets' properties on stable, deterministically: a seeded xorshift generator
//! builds a few thousand inputs per target (fragments that steer into every route, byte
//! escapes, invalid UTF-8, CR/LF/NUL; mutated seed configs) and runs the very checks
//! `make fuzz` runs (`fuzz/src/lib.rs`, included here by path).

// A violated property panics: that is how libFuzzer and the test runner notice it.
#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code, clippy::panic)]
mod checks;

use wasm_bindgen_test::wasm_bindgen_test;

/// xorshift64*: small, fast, and the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Pieces that reach the table's routes and the edits' parameters, and awkward bytes.
const FRAGMENTS: &[&[u8]] = &[
    b"/",
    b"/v1/",
    b"/V2",
    b"/v2",
    b"/users/",
    b"42",
    b"/login",
    b"/old",
    b"/gone",
    b"/tmp/",
    b"/cors",
    b"/reviews",
    b"?",
    b"&",
    b"=",
    b"%",
    b"%2F",
    b"..",
    b"//",
    b"a",
    b"Z",
    b"0",
    b" ",
    b"jason",
    b"joan",
    b"shop.example.com",
    b"x.shop.example.com",
    b"admin.",
    b"box.local",
    b":8080",
    b":",
    b"[::1]",
    b"beta=1",
    b"v=7",
    b"session=",
    b"https://a.example.com",
    b"https://q.b.com",
    b"debug",
    b"token",
    b"page",
    b"user",
    b"POST",
    b"GET",
    b"OPTIONS",
    "é".as_bytes(),
    "日本".as_bytes(),
    b"\xe9",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\x80",
    b"\xf4\x8f\xbc\x80",
    b"\xf4\x8f\xbf\xbf",
    b"\xed\xa0\x80",
    b"\r",
    b"\0",
    b"\n",
    b"\t",
    b"%REQ(x-a)%",
    b"%REQ(x-b?x-a):3%",
    b"%RESP(x-a)%",
    b"%%",
    b"%START_TIME%",
    b"%REQ(",
    b"%DOWNSTREAM_REMOTE_ADDRESS%",
    b"%ROUTE_NAME:4%",
];

/// `count` fields of fragments and random bytes, one per line.
fn fielded_input(rng: &mut Rng, count: usize) -> Vec<u8> {
    // Now and then fewer fields: a missing header is not an empty one.
    let count = if rng.below(5) == 0 {
        rng.below(count + 1)
    } else {
        count
    };
    let mut data = Vec::new();
    for field in 0..count {
        if field > 0 {
            data.push(b'\n');
        }
        for _ in 0..rng.below(6) {
            if rng.below(4) == 0 {
                data.push(rng.next() as u8);
            } else {
                data.extend_from_slice(rng.pick(FRAGMENTS));
            }
        }
    }
    data
}

/// `seed` with a few random edits: byte flips, fragment insertions, cuts and duplications.
fn mutated(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if at < data.len() => data[at] = rng.next() as u8,
            1 => {
                let fragment = rng.pick(FRAGMENTS);
                data.splice(at..at, fragment.iter().copied());
            }
            2 => data.truncate(at),
            3 if at < data.len() => {
                let end = (at + rng.below(40)).min(data.len());
                data.drain(at..end);
            }
            _ => {
                let end = (at + rng.below(60)).min(data.len());
                let copy = data[at..end].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, copy);
            }
        }
    }
    data
}

fn run(seed: u64, iterations: usize, mut input: impl FnMut(&mut Rng) -> Vec<u8>, check: fn(&[u8])) {
    let mut rng = Rng(seed);
    for _ in 0..iterations {
        let data = input(&mut rng);
        check(&data);
    }
}

const ROUTER_SEEDS: &[&[u8]] = &[
    include_bytes!("../../../fuzz/corpus/router_config/demo.json"),
    include_bytes!("../../../fuzz/corpus/router_config/select_table.json"),
    include_bytes!("../../../fuzz/corpus/router_config/bookinfo_shop.json"),
    include_bytes!("../../../fuzz/corpus/router_config/delegate.json"),
];
const HEADERS_SEEDS: &[&[u8]] = &[
    include_bytes!("../../../fuzz/corpus/headers_config/demo.json"),
    include_bytes!("../../../fuzz/corpus/headers_config/response_rules.json"),
    include_bytes!("../../../fuzz/corpus/headers_config/match.json"),
    include_bytes!("../../../fuzz/corpus/headers_config/query.json"),
];
const FAULT_SEEDS: &[&[u8]] = &[
    include_bytes!("../../../fuzz/corpus/fault_config/demo.json"),
    include_bytes!("../../../fuzz/corpus/fault_config/upstream.json"),
    include_bytes!("../../../fuzz/corpus/fault_config/grpc.json"),
];
const METRICS_SEEDS: &[&[u8]] = &[
    include_bytes!("../../../fuzz/corpus/metrics_config/dimensions.json"),
    include_bytes!("../../../fuzz/corpus/metrics_config/demo.json"),
];

#[wasm_bindgen_test(unsupported = test)]
fn config_parsers_never_panic_on_mutated_configs() {
    let config = |seeds: &'static [&'static [u8]]| {
        move |rng: &mut Rng| {
            let seed = rng.pick(seeds);
            mutated(rng, seed)
        }
    };
    run(1, 300, config(ROUTER_SEEDS), checks::router_config);
    run(2, 1_000, config(HEADERS_SEEDS), checks::headers_config);
    run(3, 1_000, config(FAULT_SEEDS), checks::fault_config);
    run(4, 1_000, config(METRICS_SEEDS), checks::metrics_config);
    for seed in ROUTER_SEEDS {
        checks::router_config(seed);
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn route_select_never_panics_and_writes_back_exact_bytes() {
    let fields = checks::SELECT_FIELDS.len();
    run(
        5,
        4_000,
        |rng| fielded_input(rng, fields),
        checks::route_select,
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn request_header_templates_copy_bytes_exactly() {
    let fields = 1 + checks::TEMPLATE_FIELDS.len();
    run(
        6,
        3_000,
        |rng| fielded_input(rng, fields),
        checks::header_templates,
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn query_edits_keep_other_parameters_byte_exact() {
    run(7, 3_000, |rng| fielded_input(rng, 2), checks::query_edits);
}

#[wasm_bindgen_test(unsupported = test)]
fn raw_text_round_trips_arbitrary_bytes() {
    run(
        8,
        3_000,
        |rng| fielded_input(rng, 1),
        checks::raw_text_round_trip,
    );
    let random_bytes = |rng: &mut Rng| {
        let length = rng.below(24);
        (0..length).map(|_| rng.next() as u8).collect()
    };
    run(9, 3_000, random_bytes, checks::raw_text_round_trip);
}
