//! `History::plot_svg` / `plot_png` (feature `plot`): the files are
//! written, the PNG is a PNG of the expected size, and the SVG holds each
//! curve as a polyline through its points: one vertex per epoch, placed
//! by an affine map of the values (a larger loss higher up).
//!
//! Run with `cargo test --features plot --test plot`.

use staticnet::History;
use std::path::PathBuf;

fn history() -> History {
    History {
        metric_name: Some("accuracy"),
        loss: vec![2.3, 1.1, 0.7, 0.52, 0.45],
        metric: vec![0.2, 0.6, 0.8, 0.86, 0.9],
        val_loss: vec![2.0, 1.3, 0.9, 0.8, 0.82],
        val_metric: vec![0.3, 0.55, 0.7, 0.75, 0.74],
        ..Default::default()
    }
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("staticnet-plot-{}-{name}", std::process::id()))
}

/// Every `points="x,y x,y …"` of the SVG's polylines.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|p| {
            let start = p.find("points=\"")? + 8;
            let end = start + p[start..].find('"')?;
            Some(
                p[start..end]
                    .split_whitespace()
                    .filter_map(|xy| {
                        let (x, y) = xy.split_once(',')?;
                        Some((x.parse().ok()?, y.parse().ok()?))
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Whether `line` is the curve of `values`: one vertex per value, x
/// increasing by equal steps, y an affine, decreasing function of the
/// value (to within the pixel rounding).
fn is_curve(line: &[(f64, f64)], values: &[f64]) -> bool {
    if line.len() != values.len() {
        return false;
    }
    let dx = line[1].0 - line[0].0;
    if dx <= 0.0
        || line
            .windows(2)
            .any(|w| ((w[1].0 - w[0].0) - dx).abs() > 1.0)
    {
        return false;
    }
    // y = a + b·v with b < 0, from the extreme values.
    let (i, j) = (0, values.len() - 1);
    let b = (line[j].1 - line[i].1) / (values[j] - values[i]);
    let a = line[i].1 - b * values[i];
    b < 0.0
        && line
            .iter()
            .zip(values)
            .all(|(&(_, y), &v)| (y - (a + b * v)).abs() <= 1.5)
}

#[test]
fn svg_holds_every_curve() {
    let h = history();
    let path = tmp("curves.svg");
    h.plot_svg(&path, "test run").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
    assert!(svg.contains("test run") && svg.contains("val_accuracy"));
    let lines = polylines(&svg);
    for (name, values) in [
        ("loss", &h.loss),
        ("accuracy", &h.metric),
        ("val_loss", &h.val_loss),
        ("val_accuracy", &h.val_metric),
    ] {
        assert!(
            lines.iter().any(|l| is_curve(l, values)),
            "no polyline through the {name} values {values:?}; polylines: {lines:?}"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn png_is_written_at_its_size() {
    let path = tmp("curves.png");
    history().plot_png(&path, "test run").unwrap();
    let png = std::fs::read(&path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height, big-endian, after the chunk's length and type.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (960, 360), "two panels: loss and accuracy");
    assert!(png.len() > 5_000, "{} bytes", png.len());
    // STATICNET_PLOT_COPY=FILE keeps the picture, to look at.
    if let Some(copy) = std::env::var_os("STATICNET_PLOT_COPY") {
        std::fs::copy(&path, copy).unwrap();
    }
    // Without a metric: one panel.
    let h = History {
        loss: vec![1.0, 0.5],
        ..Default::default()
    };
    h.plot_png(&path, "loss only").unwrap();
    let png = std::fs::read(&path).unwrap();
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 480);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_empty_history_is_an_error() {
    let e = History::default()
        .plot_svg(tmp("empty.svg"), "x")
        .unwrap_err();
    assert!(e.to_string().contains("no epochs"), "{e}");
}
