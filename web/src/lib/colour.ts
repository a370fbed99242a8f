/** A colour per person, from their name: the same on every screen (presence, carets). Each is
 * dark enough for white text on it (WCAG AA). */
export function colourOf(name: string): string {
  const palette = ["#1d4f91", "#8f23b3", "#b35a00", "#00703c", "#d4351c", "#005a8f", "#6f3a00"];
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return palette[h % palette.length];
}

/** Initials for an avatar: "Ben Walsh (Brockley)" → "BW". */
export function initials(name: string): string {
  const words = name.replace(/\(.*?\)/g, "").trim().split(/\s+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] ?? "?").slice(0, 2)).toUpperCase();
}
