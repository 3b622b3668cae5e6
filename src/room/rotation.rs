//! Dealing sheets at a round boundary when people come and go: who holds which sheet next.
//!
//! Pure function of the ring's seats and sheets. The rules (docs/protocol.md, "Rotation
//! rules"): nobody holds a sheet twice (so a sheet never returns to its author); a newcomer
//! starts on its own fresh sheet; as many members as possible hold a sheet (a maximum
//! bipartite matching, Kuhn's algorithm); each member prefers the sheets visited least, then
//! the sheet the next seat held (paper passing), then the nearest one. In a ring where
//! nobody came or went this is exactly the classic rotation `(i + r − 1) mod n`.

/// One seat of a ring, for the coming round.
#[derive(Debug, Clone, Default)]
pub struct Seat {
    /// Takes part this round (seated, has not left).
    pub active: bool,
    /// The sheet this seat held last round, if any.
    pub last: Option<usize>,
    /// A fresh sheet of its own that it starts on this round (newcomers).
    pub fresh: Option<usize>,
    /// Sheets it has ever held (its own included).
    pub held: Vec<usize>,
}

/// Deal the ring's `sheets` (indices, with how many rounds each has been held) to its
/// `seats` (in seat order). Returns the sheet each seat holds this round.
pub fn deal(seats: &[Seat], sheets: &[(usize, u32)]) -> Vec<Option<usize>> {
    let n = seats.len();
    // Preference lists, as positions into `sheets`.
    let prefs: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let seat = &seats[i];
            if !seat.active {
                return Vec::new();
            }
            if let Some(f) = seat.fresh {
                return sheets.iter().position(|s| s.0 == f).into_iter().collect();
            }
            let natural = natural_sheet(seats, i);
            let mut options: Vec<usize> = (0..sheets.len())
                .filter(|&k| {
                    let s = sheets[k].0;
                    !seat.held.contains(&s) && !seats.iter().any(|o| o.fresh == Some(s))
                })
                .collect();
            options.sort_by_key(|&k| {
                let s = sheets[k].0;
                (sheets[k].1, natural != Some(s), distance(seats, i, s))
            });
            options
        })
        .collect();
    // Kuhn's augmenting paths; newcomers first so their fresh sheet is theirs.
    let mut holder: Vec<Option<usize>> = vec![None; sheets.len()];
    let mut order: Vec<usize> = (0..n).filter(|&i| seats[i].fresh.is_some()).collect();
    order.extend((0..n).filter(|&i| seats[i].fresh.is_none()));
    for i in order {
        let mut visited = vec![false; sheets.len()];
        augment(i, &prefs, &mut holder, &mut visited);
    }
    let mut out = vec![None; n];
    for (k, h) in holder.iter().enumerate() {
        if let Some(i) = h {
            out[*i] = Some(sheets[k].0);
        }
    }
    out
}

fn augment(
    i: usize,
    prefs: &[Vec<usize>],
    holder: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for &k in &prefs[i] {
        if visited[k] {
            continue;
        }
        visited[k] = true;
        if holder[k].is_none_or(|j| augment(j, prefs, holder, visited)) {
            holder[k] = Some(i);
            return true;
        }
    }
    false
}

/// The sheet held last round by the nearest seat after `i` that held one: sheets pass from
/// seat `i + 1` to seat `i`, which is what `(i + r − 1) mod n` says.
fn natural_sheet(seats: &[Seat], i: usize) -> Option<usize> {
    let n = seats.len();
    (1..n).find_map(|d| seats[(i + d) % n].last)
}

/// How many seats on from `i` sheet `s` was last held (n when nobody held it).
fn distance(seats: &[Seat], i: usize, s: usize) -> usize {
    let n = seats.len();
    (1..n)
        .find(|d| seats[(i + d) % n].last == Some(s))
        .unwrap_or(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::rings::held_sheet_seat;

    /// Play a static ring through every round with `deal` and compare with the formula.
    #[test]
    fn a_static_ring_is_the_classic_rotation() {
        for n in 2..=12usize {
            let mut seats: Vec<Seat> = (0..n)
                .map(|i| Seat {
                    active: true,
                    last: Some(i),
                    fresh: None,
                    held: vec![i],
                })
                .collect();
            let mut visits = vec![1u32; n];
            for round in 2..=n as u32 {
                let sheets: Vec<(usize, u32)> = (0..n).map(|s| (s, visits[s])).collect();
                let dealt = deal(&seats, &sheets);
                for (i, d) in dealt.iter().enumerate() {
                    assert_eq!(
                        *d,
                        Some(held_sheet_seat(i, round, n)),
                        "n={n} round={round}"
                    );
                    let s = d.unwrap();
                    seats[i].held.push(s);
                    seats[i].last = Some(s);
                    visits[s] += 1;
                }
            }
        }
    }

    #[test]
    fn a_leaver_sheet_keeps_moving_and_nobody_holds_twice() {
        // A B C D; C leaves after round 1.
        let mut seats: Vec<Seat> = (0..4)
            .map(|i| Seat {
                active: i != 2,
                last: Some(i),
                fresh: None,
                held: vec![i],
            })
            .collect();
        let sheets: Vec<(usize, u32)> = (0..4).map(|s| (s, 1)).collect();
        let dealt = deal(&seats, &sheets);
        assert_eq!(dealt[2], None);
        // Sheets pass from seat i + 1 to seat i: B gets C's sheet (C left, it keeps
        // moving), A gets B's, D gets A's; D's own sheet rests this round.
        assert_eq!(dealt, vec![Some(1), Some(2), None, Some(0)]);
        // D's sheet rested; next round it is preferred (fewest visits).
        for (i, d) in dealt.iter().enumerate() {
            seats[i].last = *d;
            if let Some(s) = d {
                seats[i].held.push(*s);
            }
        }
        let visits = [2, 2, 2, 1];
        let sheets: Vec<(usize, u32)> = (0..4).map(|s| (s, visits[s])).collect();
        let dealt = deal(&seats, &sheets);
        assert!(
            dealt.contains(&Some(3)),
            "the rested sheet moves on: {dealt:?}"
        );
        for (i, d) in dealt.iter().enumerate() {
            if let Some(s) = d {
                assert!(!seats[i].held.contains(s));
            }
        }
    }

    #[test]
    fn a_newcomer_starts_on_its_own_fresh_sheet() {
        let mut seats: Vec<Seat> = (0..3)
            .map(|i| Seat {
                active: true,
                last: Some(i),
                fresh: None,
                held: vec![i],
            })
            .collect();
        seats.push(Seat {
            active: true,
            last: None,
            fresh: Some(3),
            held: vec![3],
        });
        let sheets = vec![(0, 1), (1, 1), (2, 1), (3, 0)];
        let dealt = deal(&seats, &sheets);
        assert_eq!(dealt[3], Some(3));
        assert_eq!(dealt.iter().flatten().count(), 4);
    }
}
