/**
 * Whether a declared MIME type is in the accepted list: exactly, or by family
 * (`image/*` accepts `image/png`). Parameters and case do not matter; no type is
 * never accepted.
 */
export function acceptsType(accepted: string[], declared: string | null | undefined): boolean {
  const type = (declared ?? '').toLowerCase().split(';')[0]!.trim();
  if (!/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(type)) return false;
  return accepted.includes(type) || accepted.includes(type.split('/')[0] + '/*');
}
