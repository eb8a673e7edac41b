//! The report as one HTML page with no scripts and nothing fetched: the figures as a table,
//! and two SVG plots, the propagation CDF and every node's height over time.

use std::fmt::Write as _;

use super::report::LabReport;

const W: f64 = 720.0;
const H: f64 = 300.0;
const PAD: f64 = 40.0;

/// The page.
pub fn page(report: &LabReport, heights: &[Vec<(f64, u32)>], propagation_ms: &[f64]) -> String {
    let summary = escape(&report.text());
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>lab: {name}</title>\
         <style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:800px}}pre{{background:#f4f4f4;padding:1em;overflow-x:auto}}svg{{background:#fff;border:1px solid #ccc}}</style></head>\
         <body><h1>Lab report: {name}</h1><pre>{summary}</pre>\
         <h2>Block propagation, quiet blocks (CDF)</h2>{cdf}\
         <h2>Height over time, per node</h2>{heights}\
         <h2>Timeline</h2><pre>{timeline}</pre></body></html>\n",
        name = escape(&report.scenario),
        cdf = cdf_svg(propagation_ms),
        heights = heights_svg(heights),
        timeline = escape(
            &report
                .timeline
                .iter()
                .map(|(at, what)| format!("{at:7.1} s  {what}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Axes with a label on each and the maxima written at their ends.
fn frame(x_label: &str, x_max: f64, y_label: &str, y_max: f64) -> String {
    format!(
        "<line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#000\"/>\
         <line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"#000\"/>\
         <text x=\"{r}\" y=\"{lb}\" text-anchor=\"end\">{x_label} (max {x_max:.0})</text>\
         <text x=\"4\" y=\"{t}\">{y_label} (max {y_max:.0})</text>",
        b = H - PAD,
        r = W - 10.0,
        lb = H - 10.0,
        t = PAD - 10.0,
    )
}

/// Where `(x, y)` goes in a plot from 0 to the maxima (anything below 0 sits on the axis).
fn point(x: f64, x_max: f64, y: f64, y_max: f64) -> String {
    let x = x.max(0.0);
    let px = PAD + x / x_max.max(f64::MIN_POSITIVE) * (W - PAD - 10.0);
    let py = H - PAD - y / y_max.max(f64::MIN_POSITIVE) * (H - 2.0 * PAD);
    format!("{px:.1},{py:.1}")
}

fn cdf_svg(sample: &[f64]) -> String {
    let mut sorted = sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    let x_max = sorted.last().copied().unwrap_or(1.0);
    #[allow(clippy::cast_precision_loss, reason = "a share")]
    let points: Vec<String> = sorted
        .iter()
        .enumerate()
        .map(|(i, ms)| {
            point(
                *ms,
                x_max,
                (i + 1) as f64 / sorted.len() as f64 * 100.0,
                100.0,
            )
        })
        .collect();
    format!(
        "<svg width=\"{W}\" height=\"{H}\">{}<polyline fill=\"none\" stroke=\"#c33\" points=\"{}\"/></svg>",
        frame("ms after the miner's node", x_max, "% of arrivals", 100.0),
        points.join(" ")
    )
}

fn heights_svg(heights: &[Vec<(f64, u32)>]) -> String {
    let x_max = heights.iter().flatten().map(|p| p.0).fold(1.0, f64::max);
    let y_max = f64::from(heights.iter().flatten().map(|p| p.1).max().unwrap_or(1));
    let mut lines = String::new();
    for (i, series) in heights.iter().enumerate() {
        // The start-up (before the timeline's 0) is left out.
        let points: Vec<String> = series
            .iter()
            .filter(|(at, _)| *at >= 0.0)
            .map(|(at, h)| point(*at, x_max, f64::from(*h), y_max))
            .collect();
        #[allow(clippy::cast_precision_loss, reason = "a hue")]
        let hue = (i as f64 * 137.5) % 360.0;
        let _ = write!(
            lines,
            "<polyline fill=\"none\" stroke=\"hsl({hue:.0},70%,45%)\" stroke-width=\"1\" points=\"{}\"><title>node {i}</title></polyline>",
            points.join(" ")
        );
    }
    format!(
        "<svg width=\"{W}\" height=\"{H}\">{}{lines}</svg>",
        frame("seconds", x_max, "height", y_max)
    )
}
