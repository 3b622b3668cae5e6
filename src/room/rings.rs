//! Rings and rotation: how seated participants are split into rings and which sheet each
//! seat holds in each round. Pure arithmetic, no state beyond its arguments.

/// Split `n` participants into ring sizes of at most `group_size`, as equal as possible and
/// never a ring of one. The larger rings come first.
///
/// 8 with group size 6 → `[4, 4]`; 13 → `[5, 4, 4]`; 3 with group size 2 → `[3]` (a ring of
/// one is never made, so a ring may exceed `group_size` when nothing else works).
pub fn split(n: usize, group_size: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let group_size = group_size.max(2);
    let wanted = n.div_ceil(group_size);
    // Never fewer than two people in a ring: at most n / 2 rings.
    let rings = wanted.min(n / 2).max(1);
    let base = n / rings;
    let extra = n % rings;
    (0..rings).map(|i| base + usize::from(i < extra)).collect()
}

/// The seat whose sheet seat `seat` of a ring of `size` holds in round `round` (1-based):
/// `(seat + round − 1) mod size`. Round 1 is one's own sheet.
pub fn held_sheet_seat(seat: usize, round: u32, size: usize) -> usize {
    debug_assert!(size > 0 && round > 0);
    (seat + (round as usize - 1) % size) % size
}

/// How many rounds a session of these rings has: the smallest ring's size, lowered by the
/// room's `rounds` setting, so nobody holds the same sheet twice.
pub fn planned_rounds(sizes: &[usize], max_rounds: Option<u32>) -> u32 {
    let smallest = sizes.iter().copied().min().unwrap_or(0) as u32;
    match max_rounds {
        Some(m) => smallest.min(m),
        None => smallest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_from_the_issue() {
        assert_eq!(split(8, 6), vec![4, 4]);
        assert_eq!(split(13, 6), vec![5, 4, 4]);
        assert_eq!(split(3, 2), vec![3]);
        assert_eq!(split(6, 6), vec![6]);
        assert_eq!(split(7, 6), vec![4, 3]);
        assert_eq!(split(2, 12), vec![2]);
        assert_eq!(split(5, 2), vec![3, 2]);
        assert_eq!(split(0, 6), Vec::<usize>::new());
    }

    #[test]
    fn split_properties_hold_for_all_small_inputs() {
        for g in 2..=12 {
            for n in 2..=200 {
                let s = split(n, g);
                assert_eq!(s.iter().sum::<usize>(), n, "n={n} g={g}");
                assert!(s.iter().all(|&x| x >= 2), "ring of one: n={n} g={g} {s:?}");
                let (mx, mn) = (s.iter().max().unwrap(), s.iter().min().unwrap());
                assert!(mx - mn <= 1, "uneven: n={n} g={g} {s:?}");
                // Over group size only when n / g rings would leave a ring of one.
                if *mx > g {
                    assert_eq!(s.len(), n / 2, "n={n} g={g} {s:?}");
                }
                assert_eq!(s.len(), n.div_ceil(g).min(n / 2));
            }
        }
    }

    #[test]
    fn rotation_visits_every_sheet_once_for_ring_sizes_2_to_12() {
        for size in 2..=12usize {
            for seat in 0..size {
                let mut seen = vec![false; size];
                for round in 1..=size as u32 {
                    let s = held_sheet_seat(seat, round, size);
                    assert!(!seen[s], "size {size} seat {seat} holds {s} twice");
                    seen[s] = true;
                }
                assert_eq!(held_sheet_seat(seat, 1, size), seat);
            }
            // In any one round the sheets are a permutation of the seats.
            for round in 1..=size as u32 {
                let mut held: Vec<_> = (0..size).map(|i| held_sheet_seat(i, round, size)).collect();
                held.sort_unstable();
                assert_eq!(held, (0..size).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn rounds_are_the_smallest_ring_lowered_by_setting() {
        assert_eq!(planned_rounds(&[5, 4, 4], None), 4);
        assert_eq!(planned_rounds(&[6], None), 6);
        assert_eq!(planned_rounds(&[6], Some(3)), 3);
        assert_eq!(planned_rounds(&[3], Some(12)), 3);
    }
}
