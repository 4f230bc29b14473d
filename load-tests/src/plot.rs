//! `--plot FILE.svg`: p99 latency against connections, one series per scenario and system.
//! Media rows are left out (their x is subscribers, not connections), and so are rows
//! without a latency. The SVG backend writes text as `<text>` elements: no font files.

use std::ops::Range;
use std::path::Path;

use anyhow::Context;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::report::Row;

const SIZE: (u32, u32) = (1024, 640);

/// The points (connections, p99 ms) of one scenario on one system, by connections.
struct Series {
    scenario: String,
    system: String,
    points: Vec<(f64, f64)>,
}

impl Series {
    fn name(&self) -> String {
        format!("{} ({})", self.scenario, self.system)
    }
}

/// Series in the order their first row came.
fn series(rows: &[Row]) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    let plotted = rows
        .iter()
        .filter(|r| r.p99_ms > 0.0 && r.connections > 0 && !r.scenario.starts_with("media"));
    for r in plotted {
        let point = (r.connections as f64, r.p99_ms);
        match out
            .iter_mut()
            .find(|s| s.scenario == r.scenario && s.system == r.system)
        {
            Some(s) => s.points.push(point),
            None => out.push(Series {
                scenario: r.scenario.clone(),
                system: r.system.clone(),
                points: vec![point],
            }),
        }
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// The axis range around `lo..=hi`, and whether it is drawn in log scale (more than 10x).
fn axis(lo: f64, hi: f64, from_zero: bool) -> (Range<f64>, bool) {
    if hi > lo * 10.0 {
        (lo / 1.5..hi * 1.5, true)
    } else if from_zero {
        (0.0..hi * 1.1, false)
    } else if hi > lo {
        let pad = (hi - lo) * 0.1;
        ((lo - pad).max(0.0)..hi + pad, false)
    } else {
        (lo * 0.5..hi * 1.5, false)
    }
}

fn ms_label(v: &f64) -> String {
    if *v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// The chart as an SVG document.
pub fn svg(rows: &[Row], machine: &str) -> anyhow::Result<String> {
    let all = series(rows);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let area = root.titled("p99 latency against connections", ("sans-serif", 22))?;
        let area = area.titled(machine, ("sans-serif", 13))?;
        let xs = all.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let ys = all.iter().flat_map(|s| s.points.iter().map(|p| p.1));
        let (x_lo, x_hi) = xs.fold((f64::MAX, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
        let (y_lo, y_hi) = ys.fold((f64::MAX, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
        if all.is_empty() {
            area.draw(&Text::new(
                "no rows with a latency to plot",
                (40, 40),
                ("sans-serif", 16),
            ))?;
        } else {
            let (x, log_x) = axis(x_lo, x_hi, false);
            let (y, log_y) = axis(y_lo, y_hi, true);
            match (log_x, log_y) {
                (false, false) => draw(&area, x, y, &all)?,
                (true, false) => draw(&area, x.log_scale(), y, &all)?,
                (false, true) => draw(&area, x, y.log_scale(), &all)?,
                (true, true) => draw(&area, x.log_scale(), y.log_scale(), &all)?,
            }
        }
        root.present()?;
    }
    Ok(out)
}

fn draw<X, Y>(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    x: X,
    y: Y,
    all: &[Series],
) -> anyhow::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc("connections")
        .y_desc("p99 latency (ms)")
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&ms_label)
        .draw()?;
    // One colour per scenario; Yishi solid with filled points, peers dashed with hollow ones.
    let mut scenarios: Vec<&str> = Vec::new();
    for s in all {
        let i = match scenarios.iter().position(|n| *n == s.scenario) {
            Some(i) => i,
            None => {
                scenarios.push(&s.scenario);
                scenarios.len() - 1
            }
        };
        let color = Palette99::pick(i).to_rgba();
        let ours = s.system == "yishi";
        let line = color.stroke_width(2);
        let point = if ours { color.filled() } else { line };
        if s.points.len() > 1 {
            if ours {
                chart.draw_series(LineSeries::new(s.points.iter().copied(), line))?;
            } else {
                chart.draw_series(DashedLineSeries::new(s.points.iter().copied(), 8, 5, line))?;
            }
        }
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, point)))?
            .label(s.name())
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (20, 0)], line)
                    + Circle::new((10, 0), 4, point)
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Writes the chart to `path`.
pub fn write(path: &Path, rows: &[Row], machine: &str) -> anyhow::Result<()> {
    let doc = svg(rows, machine)?;
    std::fs::write(path, doc).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, system: &str, connections: usize, p99_ms: f64) -> Row {
        let mut r = Row::new(scenario, system, connections);
        r.p99_ms = p99_ms;
        r
    }

    #[test]
    fn draws_each_series_with_a_legend() -> anyhow::Result<()> {
        let rows = vec![
            row("fanout", "yishi", 100, 4.5),
            row("fanout", "nats-server", 100, 3.0),
            row("fanout", "yishi", 10_000, 350.0),
            row("fanout", "nats-server", 10_000, 420.0),
            row("hold", "yishi", 100, 2.0),
            row("hold", "yishi", 0, 0.0),
            row("media", "janus", 25, 12.0),
        ];
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("plot.svg");
        write(&path, &rows, "2 cores (test) <& co>")?;
        let doc = std::fs::read_to_string(&path)?;
        assert!(doc.trim_start().starts_with("<svg"), "{doc}");
        assert!(doc.trim_end().ends_with("</svg>"), "{doc}");
        for name in ["fanout (yishi)", "fanout (nats-server)", "hold (yishi)"] {
            assert!(doc.contains(name), "{name} missing");
        }
        assert!(!doc.contains("media"), "media rows are not plotted");
        assert!(doc.contains("2 cores (test) &lt;&amp; co&gt;"));
        Ok(())
    }

    #[test]
    fn no_rows_still_writes_a_chart() -> anyhow::Result<()> {
        let doc = svg(&[row("hold", "yishi", 0, 0.0)], "machine")?;
        assert!(doc.contains("no rows with a latency to plot"));
        assert!(doc.trim_end().ends_with("</svg>"));
        Ok(())
    }
}
