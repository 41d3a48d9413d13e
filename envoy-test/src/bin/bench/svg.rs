//! Grouped bar charts as plain SVG: one group per category, one bar per series.

use std::fmt::Write as _;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 90.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"];

/// A chart: `series[s].1[c]` is the value of series `s` in category `c` (NaN: no bar).
pub struct BarChart<'a> {
    pub title: &'a str,
    pub unit: &'a str,
    pub categories: Vec<String>,
    pub series: Vec<(String, Vec<f64>)>,
}

impl BarChart<'_> {
    pub fn render(&self) -> String {
        let max = self
            .series
            .iter()
            .flat_map(|(_, values)| values.iter().copied())
            .filter(|value| value.is_finite())
            .fold(0.0_f64, f64::max);
        let (step, top) = axis(max);
        let plot_width = WIDTH - LEFT - RIGHT;
        let plot_height = HEIGHT - TOP - BOTTOM;
        let y = |value: f64| TOP + plot_height * (1.0 - value / top);
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
            WIDTH / 2.0,
            escape(self.title)
        );
        let mut tick = 0.0;
        while tick <= top + step / 2.0 {
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y(tick) + 4.0,
                format_tick(tick),
                y = y(tick),
            );
            tick += step;
        }
        let _ = writeln!(
            svg,
            r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">{}</text>"#,
            TOP + plot_height / 2.0,
            TOP + plot_height / 2.0,
            escape(self.unit)
        );
        let group_width = plot_width / self.categories.len().max(1) as f64;
        let bar_width = group_width * 0.8 / self.series.len().max(1) as f64;
        for (c, category) in self.categories.iter().enumerate() {
            let group_left = LEFT + group_width * c as f64 + group_width * 0.1;
            for (s, (_, values)) in self.series.iter().enumerate() {
                let Some(value) = values.get(c).copied().filter(|v| v.is_finite()) else {
                    continue;
                };
                let x = group_left + bar_width * s as f64;
                let _ = writeln!(
                    svg,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                    y(value),
                    bar_width * 0.95,
                    (HEIGHT - BOTTOM - y(value)).max(0.0),
                    COLOURS[s % COLOURS.len()],
                    escape(category),
                    format_tick(value)
                );
            }
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                LEFT + group_width * (c as f64 + 0.5),
                HEIGHT - BOTTOM + 18.0,
                escape(category)
            );
        }
        for (s, (name, _)) in self.series.iter().enumerate() {
            let x = LEFT + 170.0 * s as f64;
            let legend_y = HEIGHT - 30.0;
            let _ = writeln!(
                svg,
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{legend_y}">{}</text>"#,
                legend_y - 10.0,
                COLOURS[s % COLOURS.len()],
                x + 16.0,
                escape(name)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// A round tick step (1, 2 or 5 × 10^n) giving about five ticks, and the axis top.
fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude);
    (step, (max / step).ceil() * step)
}

fn format_tick(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
