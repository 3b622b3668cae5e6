//! C-Sketch's vector data: a stroke's shape and the limits of one layer.
//!
//! A stroke is a flat list of integer coordinates `[x0, y0, x1, y1, …]` on a canvas of
//! [`WIDTH`] × [`HEIGHT`] units. It travels, is journaled and is kept exactly as sent once
//! [`check_stroke`] accepted it; [`Layer`] is one participant's draft on one sheet in one
//! round and refuses what would take it over [`MAX_STROKES`] or [`MAX_LAYER_BYTES`]. Pure
//! data and rules: no drawing, no I/O.

/// Canvas width in units (x runs 0..=WIDTH, left to right).
pub const WIDTH: u16 = 1000;
/// Canvas height in units (y runs 0..=HEIGHT, top to bottom).
pub const HEIGHT: u16 = 750;
/// Most points in one stroke.
pub const MAX_POINTS: usize = 500;
/// Most strokes in one layer.
pub const MAX_STROKES: usize = 100;
/// Most bytes of points in one layer, counted as [`POINT_BYTES`] a point.
pub const MAX_LAYER_BYTES: usize = 16_384;
/// What one point costs against [`MAX_LAYER_BYTES`]: two 16-bit coordinates.
pub const POINT_BYTES: usize = 4;

/// One stroke: `[x0, y0, x1, y1, …]`.
pub type Stroke = Vec<u16>;

/// Why a stroke was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrokeError {
    /// Malformed: empty, an odd number of coordinates, or off the canvas.
    Invalid(String),
    /// Over a limit of the stroke or of the layer.
    TooBig(String),
}

/// Check one stroke's shape (not the layer's limits).
pub fn check_stroke(points: &[u16]) -> Result<(), StrokeError> {
    if points.is_empty() {
        return Err(StrokeError::Invalid(
            "a stroke needs at least one point".to_owned(),
        ));
    }
    if points.len() % 2 != 0 {
        return Err(StrokeError::Invalid(format!(
            "a stroke is pairs of coordinates [x, y, …]; {} numbers is not pairs",
            points.len()
        )));
    }
    let n = points.len() / 2;
    if n > MAX_POINTS {
        return Err(StrokeError::TooBig(format!(
            "a stroke has {n} points; the limit is {MAX_POINTS}"
        )));
    }
    for (i, xy) in points.chunks_exact(2).enumerate() {
        if xy[0] > WIDTH || xy[1] > HEIGHT {
            return Err(StrokeError::Invalid(format!(
                "point {i} ({}, {}) is off the canvas (0 to {WIDTH}, 0 to {HEIGHT})",
                xy[0], xy[1]
            )));
        }
    }
    Ok(())
}

/// One participant's draft layer: the strokes drawn this round on the held sheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    strokes: Vec<Stroke>,
    points: usize,
}

impl Layer {
    /// Add a stroke if it is well formed and the layer stays within its limits.
    pub fn push(&mut self, stroke: Stroke) -> Result<(), StrokeError> {
        check_stroke(&stroke)?;
        if self.strokes.len() >= MAX_STROKES {
            return Err(StrokeError::TooBig(format!(
                "this sketch has {MAX_STROKES} strokes, the limit; undo one to draw another"
            )));
        }
        let n = stroke.len() / 2;
        let bytes = (self.points + n) * POINT_BYTES;
        if bytes > MAX_LAYER_BYTES {
            return Err(StrokeError::TooBig(format!(
                "this stroke would make the sketch {bytes} bytes; the limit is {MAX_LAYER_BYTES}"
            )));
        }
        self.points += n;
        self.strokes.push(stroke);
        Ok(())
    }

    /// Take the last stroke back; `false` when there is none.
    pub fn undo(&mut self) -> bool {
        match self.strokes.pop() {
            Some(s) => {
                self.points -= s.len() / 2;
                true
            }
            None => false,
        }
    }

    /// The strokes, oldest first.
    pub fn strokes(&self) -> &[Stroke] {
        &self.strokes
    }

    /// Number of strokes.
    pub fn len(&self) -> usize {
        self.strokes.len()
    }

    /// No stroke yet.
    pub fn is_empty(&self) -> bool {
        self.strokes.is_empty()
    }

    /// Hand the strokes over, leaving the layer empty.
    pub fn take(&mut self) -> Vec<Stroke> {
        self.points = 0;
        std::mem::take(&mut self.strokes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dot_and_a_line_are_strokes() {
        assert_eq!(check_stroke(&[0, 0]), Ok(()));
        assert_eq!(check_stroke(&[0, 0, WIDTH, HEIGHT]), Ok(()));
    }

    #[test]
    fn malformed_strokes_say_why() {
        let e = |p: &[u16]| match check_stroke(p) {
            Err(StrokeError::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(e(&[]).contains("at least one point"));
        assert!(e(&[1, 2, 3]).contains("3 numbers"));
        assert!(e(&[1, 2, WIDTH + 1, 0]).contains("point 1"));
        assert!(e(&[0, HEIGHT + 1]).contains("off the canvas"));
    }

    #[test]
    fn a_stroke_of_more_than_max_points_is_too_big() {
        assert_eq!(check_stroke(&vec![5; MAX_POINTS * 2]), Ok(()));
        match check_stroke(&vec![5; MAX_POINTS * 2 + 2]) {
            Err(StrokeError::TooBig(m)) => assert!(m.contains("501 points"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_layer_keeps_to_its_stroke_and_byte_limits() {
        let mut l = Layer::default();
        for _ in 0..MAX_STROKES {
            l.push(vec![1, 1]).unwrap();
        }
        assert!(matches!(l.push(vec![1, 1]), Err(StrokeError::TooBig(m)) if m.contains("undo")));
        assert!(l.undo());
        l.push(vec![1, 1]).unwrap();

        let mut l = Layer::default();
        let big = vec![3; MAX_POINTS * 2];
        // 8 strokes of 500 points = 4,000 points = 16,000 bytes: fits; a 9th does not.
        for _ in 0..8 {
            l.push(big.clone()).unwrap();
        }
        match l.push(big.clone()) {
            Err(StrokeError::TooBig(m)) => assert!(m.contains("18000 bytes"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(l.len(), 8);
        // A small one still fits under 16,384 bytes.
        l.push(vec![3; 2 * 96]).unwrap();
        assert!(l.push(vec![3, 3]).is_err());
        assert!(l.undo());
        assert!(l.push(vec![3, 3]).is_ok());
    }

    #[test]
    fn undo_on_an_empty_layer_says_so_and_take_empties() {
        let mut l = Layer::default();
        assert!(!l.undo());
        l.push(vec![1, 2, 3, 4]).unwrap();
        assert_eq!(l.take(), vec![vec![1, 2, 3, 4]]);
        assert!(l.is_empty());
        // The byte count went with the strokes.
        for _ in 0..8 {
            l.push(vec![3; MAX_POINTS * 2]).unwrap();
        }
    }
}
