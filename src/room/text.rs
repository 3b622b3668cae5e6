//! Normalisation of user text (ideas, names, topics): what characters are kept and how
//! length is counted. Pure functions; every piece of user text goes through here before it
//! is stored.

/// Longest idea, in Unicode scalar values after normalisation.
pub const MAX_IDEA_CHARS: usize = 500;
/// Longest display name, in Unicode scalar values after normalisation and trimming.
pub const MAX_NAME_CHARS: usize = 40;
/// Longest topic, in Unicode scalar values after normalisation and trimming.
pub const MAX_TOPIC_CHARS: usize = 500;

/// Bidirectional embedding, override and isolate controls: they can make text display in a
/// different order from the one it is stored in (the "Trojan Source" trick).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Strip control characters (newline kept when `keep_newlines`) and bidi controls.
pub fn clean(text: &str, keep_newlines: bool) -> String {
    text.chars()
        .filter(|&c| !(is_bidi_control(c) || (c.is_control() && !(keep_newlines && c == '\n'))))
        .collect()
}

/// An idea as stored while drafting: cleaned, newlines kept, not trimmed (the writer may be
/// between two words). `Err(len)` when it is longer than [`MAX_IDEA_CHARS`].
pub fn idea(text: &str) -> Result<String, usize> {
    let t = clean(text, true);
    let n = t.chars().count();
    if n > MAX_IDEA_CHARS { Err(n) } else { Ok(t) }
}

/// A display name: cleaned and trimmed; `Ok(None)` when nothing is left, `Err(len)` when too long.
pub fn name(text: &str) -> Result<Option<String>, usize> {
    let t = clean(text, false);
    let t = t.trim();
    let n = t.chars().count();
    if n == 0 {
        Ok(None)
    } else if n > MAX_NAME_CHARS {
        Err(n)
    } else {
        Ok(Some(t.to_owned()))
    }
}

/// A topic: cleaned and trimmed; `Err(len)` when empty or longer than [`MAX_TOPIC_CHARS`].
pub fn topic(text: &str) -> Result<String, usize> {
    let t = clean(text, true);
    let t = t.trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_TOPIC_CHARS {
        Err(n)
    } else {
        Ok(t.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_controls_and_bidi_overrides() {
        assert_eq!(clean("a\u{202E}b\u{2066}c\u{0007}d\r\n", true), "abcd\n");
        assert_eq!(clean("a\nb\tc", false), "abc");
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(idea(&"é".repeat(500)).is_ok());
        assert_eq!(idea(&"é".repeat(501)), Err(501));
        // Stripped characters do not count.
        let padded = format!("{}{}", "x".repeat(500), "\u{202E}".repeat(10));
        assert!(idea(&padded).is_ok());
    }

    #[test]
    fn names_and_topics_trim() {
        assert_eq!(name("  Ana \u{0000} "), Ok(Some("Ana".into())));
        assert_eq!(name("   "), Ok(None));
        assert_eq!(name(&"n".repeat(41)), Err(41));
        assert_eq!(topic("  How might we? "), Ok("How might we?".into()));
        assert_eq!(topic(" \n "), Err(0));
    }
}
