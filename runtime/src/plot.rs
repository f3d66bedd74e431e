//! [`History`]'s curves as pictures (feature `plot`): the loss, and the
//! metric if there is one, per epoch, training and validation, drawn
//! with [plotters](https://docs.rs/plotters).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let history = staticnet_runtime::History::default();
//! history.plot_svg("curves.svg", "digits CNN")?;
//! history.plot_png("curves.png", "digits CNN")?;
//! # Ok(())
//! # }
//! ```
//!
//! The PNG's text is drawn with a font compiled into the program (Ubuntu
//! Light, from the `epaint_default_fonts` crate), so nothing is read from
//! the system: no fontconfig, no installed fonts. The SVG is laid out with
//! the same font's metrics, names its font (`sans-serif`) and leaves
//! drawing the text to the viewer.

use crate::fit::History;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

/// Why a plot was not written.
#[derive(Debug)]
pub struct PlotError(String);

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not plot the history: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

fn err<E: fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

/// Size of the picture in pixels: one 480 × 360 panel per curve.
const PANEL: (u32, u32) = (480, 360);
/// Up to this many epochs each point is marked with a dot.
const MARKED_EPOCHS: usize = 40;
/// Training curves in blue, validation in orange (matplotlib's first two).
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VAL: RGBColor = RGBColor(255, 127, 14);

/// Registers the bundled font under the name plotters asks for (both
/// backends measure text with it to lay out the labels).
fn fonts() -> Result<(), PlotError> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let ok = *LOADED.get_or_init(|| {
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError("the bundled font did not load".into()))
    }
}

impl History {
    /// Draws the loss (and the metric, in a second panel) per epoch to an
    /// SVG file at `path`, under the heading `title`: training solid,
    /// validation (if any) in a second colour, each point marked (up to 40
    /// epochs).
    ///
    /// Errors: an empty history, or the file cannot be written.
    pub fn plot_svg(&self, path: impl AsRef<Path>, title: &str) -> Result<(), PlotError> {
        fonts()?;
        let size = self.size();
        let root = SVGBackend::new(path.as_ref(), size).into_drawing_area();
        self.draw(&root, title)?;
        root.present().map_err(err)
    }

    /// [`History::plot_svg`] as a PNG image.
    pub fn plot_png(&self, path: impl AsRef<Path>, title: &str) -> Result<(), PlotError> {
        fonts()?;
        let size = self.size();
        let root = BitMapBackend::new(path.as_ref(), size).into_drawing_area();
        self.draw(&root, title)?;
        root.present().map_err(err)
    }

    fn size(&self) -> (u32, u32) {
        let panels = if self.metric.is_empty() { 1 } else { 2 };
        (PANEL.0 * panels, PANEL.1)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        title: &str,
    ) -> Result<(), PlotError>
    where
        DB::ErrorType: 'static,
    {
        if self.loss.is_empty() {
            return Err(PlotError("the history has no epochs".into()));
        }
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(title, ("sans-serif", 18)).map_err(err)?;
        let metric = self.metric_name.unwrap_or("metric");
        if self.metric.is_empty() {
            panel(&root, "loss", &self.loss, &self.val_loss)
        } else {
            let (left, right) = root.split_horizontally(PANEL.0);
            panel(&left, "loss", &self.loss, &self.val_loss)?;
            panel(&right, metric, &self.metric, &self.val_metric)
        }
    }
}

/// One panel: `train` and `val` (possibly empty) against the 1-based epoch.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    name: &str,
    train: &[f64],
    val: &[f64],
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let finite = || train.iter().chain(val).copied().filter(|v| v.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    let epochs = train.len().max(val.len()).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(name, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d(0.5f64..epochs as f64 + 0.5, (lo - pad)..(hi + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(epochs.min(10))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .max_light_lines(4)
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(err)?;
    for (values, color, label) in [
        (train, TRAIN, name.to_string()),
        (val, VAL, format!("val_{name}")),
    ] {
        if values.is_empty() {
            continue;
        }
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(e, &v)| ((e + 1) as f64, v))
            .filter(|(_, v)| v.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        // Each epoch marked, while the marks stay apart.
        if points.len() <= MARKED_EPOCHS {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)
}
