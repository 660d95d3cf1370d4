// A small well-formedness check for the XML/SVG we write: balanced tags,
// quoted attributes, only known entities, no characters XML 1.0 forbids.
export function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(xml)) problems.push('raw control character');
  for (const m of xml.matchAll(/&([^;\s]*);?/g)) {
    if (!/^(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+)$/.test(m[1]!) || !m[0].endsWith(';')) problems.push(`bad entity ${m[0]}`);
  }
  const stack: string[] = [];
  const body = xml.replace(/<\?xml[^>]*\?>/, '').replace(/<!DOCTYPE[^>]*>/i, '');
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<(?![A-Za-z/])/g)) {
    if (m[2] === undefined) {
      problems.push(`stray < at ${m.index}`);
      continue;
    }
    const [, close, name, , self] = m;
    if (close) {
      const top = stack.pop();
      if (top !== name) problems.push(`</${name}> closes <${top}>`);
    } else if (!self && !VOID.has(name!)) stack.push(name!);
  }
  // Any '<' not consumed above as a tag would be malformed markup.
  const tags = [...body.matchAll(/<[^>]*>/g)].filter((m) => !/^<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>$/.test(m[0]));
  for (const m of tags) problems.push(`malformed tag ${m[0].slice(0, 60)}`);
  if (stack.length) problems.push(`unclosed: ${stack.join(', ')}`);
  return problems;
}

/** HTML void elements (only used when checking report.html). */
const VOID = new Set(['meta', 'br', 'hr', 'img', 'link', 'input']);
