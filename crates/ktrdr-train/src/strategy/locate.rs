//! The line a key path points at, for messages: the YAML tree keeps no positions, so the path is
//! followed through the text by indentation. Block style only (what strategy files use); inside
//! a flow collection (`[0, 20, 35]`) the line of its key is given.

/// One meaningful line: its number, indentation, whether it is a list item, and its key.
struct Line<'t> {
    number: usize,
    indent: usize,
    dash: bool,
    /// Indentation of the key (after a `- `).
    key_indent: usize,
    key: Option<&'t str>,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let content = raw.trim_start_matches(' ');
            let indent = raw.len() - content.len();
            if content.is_empty() || content.starts_with('#') {
                return None;
            }
            let (dash, rest) = match content.strip_prefix("- ") {
                Some(rest) => (true, rest.trim_start_matches(' ')),
                None => (false, content),
            };
            let key_indent = raw.len() - rest.len();
            let key = rest
                .split_once(':')
                .map(|(k, _)| k.trim().trim_matches('"').trim_matches('\''))
                .filter(|k| !k.is_empty() && !k.starts_with('{') && !k.starts_with('['));
            Some(Line {
                number: i + 1,
                indent,
                dash,
                key_indent,
                key,
            })
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Within {
    Root,
    Key(usize),
    Item(usize),
}

enum Step<'p> {
    Key(&'p str),
    Index(usize),
}

fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        out.push(Step::Key(key));
        while !rest.is_empty() {
            let (n, after) = rest.split_once(']')?;
            out.push(Step::Index(n.parse().ok()?));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Some(out)
}

/// The 1-based line of `path` (`indicators[1].period`) in `text`, when it can be told.
pub(super) fn line_of(text: &str, path: &str) -> Option<usize> {
    if path.is_empty() {
        return None;
    }
    let lines = lines(text);
    // The block being searched: the lines from `start` that belong to the enclosing node.
    let mut start = 0;
    let mut within = Within::Root;
    let mut found = None;
    for step in steps(path)? {
        let inside = |i: usize, l: &Line<'_>| match within {
            Within::Root => true,
            // A key's value: deeper lines, or a list written at the key's own indentation.
            Within::Key(k) => l.indent > k || (l.indent == k && l.dash),
            // A list item: its `- ` line, then the lines at its keys' indentation or deeper.
            Within::Item(k) => i == start || l.indent >= k,
        };
        let block: Vec<usize> = (start..lines.len())
            .take_while(|&i| inside(i, &lines[i]))
            .collect();
        match step {
            Step::Key(key) => {
                let Some(level) = block.first().map(|&i| lines[i].key_indent) else {
                    return found; // a flow mapping (`{type: …}`): its key's line
                };
                let i = *block
                    .iter()
                    .find(|&&i| lines[i].key_indent == level && lines[i].key == Some(key))?;
                found = Some(lines[i].number);
                within = Within::Key(lines[i].key_indent);
                start = i + 1;
            }
            Step::Index(n) => {
                let level = block
                    .iter()
                    .filter(|&&i| lines[i].dash)
                    .map(|&i| lines[i].indent)
                    .min();
                let Some(level) = level else {
                    return found; // a flow list: its key's line
                };
                let i = *block
                    .iter()
                    .filter(|&&i| lines[i].dash && lines[i].indent == level)
                    .nth(n)?;
                found = Some(lines[i].number);
                within = Within::Item(lines[i].key_indent);
                start = i;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const TEXT: &str = "\
name: x  # a comment
indicators:
- name: rsi
  period: 14
- name: macd   # line 5
  fast_period: 12
fuzzy_sets:
  rsi:
    oversold:
      type: triangular
      parameters: [0, 20, 35]
    low: {type: triangular, parameters: [0, 5, 10]}
model:
  architecture:
    hidden_layers:
      - 50
      - 25
    activation: relu
";

    #[test]
    fn block_paths_find_their_line() {
        assert_eq!(line_of(TEXT, "name"), Some(1));
        assert_eq!(line_of(TEXT, "indicators"), Some(2));
        assert_eq!(line_of(TEXT, "indicators[0]"), Some(3));
        assert_eq!(line_of(TEXT, "indicators[0].period"), Some(4));
        assert_eq!(line_of(TEXT, "indicators[1].name"), Some(5));
        assert_eq!(line_of(TEXT, "indicators[1].fast_period"), Some(6));
        assert_eq!(line_of(TEXT, "fuzzy_sets.rsi.oversold.type"), Some(10));
        assert_eq!(
            line_of(TEXT, "model.architecture.hidden_layers[1]"),
            Some(17)
        );
        assert_eq!(line_of(TEXT, "model.architecture.activation"), Some(18));
    }

    #[test]
    fn flow_lists_give_their_keys_line_and_unknown_paths_none() {
        assert_eq!(
            line_of(TEXT, "fuzzy_sets.rsi.oversold.parameters[2]"),
            Some(11)
        );
        // `period` of the second indicator does not exist: not the first one's line.
        assert_eq!(line_of(TEXT, "indicators[1].period"), None);
        assert_eq!(line_of(TEXT, "model.type"), None);
        assert_eq!(line_of(TEXT, ""), None);
    }
}
