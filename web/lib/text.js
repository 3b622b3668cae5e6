// Small text helpers shared by the pages.

/** A short, single-line form of an idea for a menu: "Pair each newcomer with a buddy…". */
export function shortIdea(text, max = 60) {
  const chars = [...String(text)];
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : chars.join('');
}
