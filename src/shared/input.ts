import { z } from 'zod';
import { BadUserInputError } from './errors.js';

/**
 * Parses a mutation's input with its schema.
 * @throws BadUserInputError naming the first bad field as `input.<path>`, with the schema's words.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new BadUserInputError(['input', ...issue.path].join('.'), issue.message);
}

/**
 * Characters that text shown to a person must not hold: control characters (C0, DEL and C1),
 * line and paragraph separators, which start a new line where a single line is shown, the bidi
 * embeddings, overrides and isolates that display text in another order than it is stored
 * (CVE-2021-42574), and invisible characters with no place in a name or an address, which make
 * two of them look the same or hide text: the zero-width space, word joiner and byte order mark,
 * the invisible operators of mathematics (U+2061 to U+2064), the deprecated format characters
 * (U+206A to U+206F) and the interlinear annotation marks (U+FFF9 to U+FFFB). Joiners (U+200C,
 * U+200D), the direction marks and the Mongolian vowel separator, which scripts need, stay allowed.
 */
const UNSHOWABLE = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069\u200b\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb]/u;

/**
 * Text that shows nothing however many characters it holds: only default-ignorable code points
 * (the soft hyphen, zero-width characters and joiners, direction marks, Hangul fillers, variation
 * selectors, tag characters), white space, and the braille blank, which fonts draw as an empty
 * cell. Some have a place inside text (a soft hyphen, a joiner some scripts need); none alone.
 */
const INVISIBLE = /^[\p{Default_Ignorable_Code_Point}\p{White_Space}\u2800]*$/u;

/**
 * Text hidden among visible characters, which a person does not see but a program, an AI agent
 * reading a profile say, reads ("ASCII smuggling"): tag characters, which spell ASCII invisibly,
 * outside the emoji tag sequences that are their one use (UTS #51 §2.8: a black flag, tag letters
 * or digits, a cancel tag: the flag of Scotland), and variation selectors in a row, which carry
 * bytes, where a character takes at most one (Unicode §23.4).
 */
const EMOJI_TAG_SEQUENCE = /\u{1F3F4}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{1,7}\u{E007F}/gu;
const TAG_CHARACTER = /[\u{E0000}-\u{E007F}]/u;
const STACKED_SELECTORS = /(?:^|[\ufe00-\ufe0f\u{E0100}-\u{E01EF}])[\ufe00-\ufe0f\u{E0100}-\u{E01EF}]/u;
const hidesText = (value: string) => TAG_CHARACTER.test(value.replace(EMOJI_TAG_SEQUENCE, '')) || STACKED_SELECTORS.test(value);

/**
 * How much longer than its bound text may come in: NFC composes at most four code points into one
 * (a canonical decomposition is at most four long), so nothing longer can fit once composed.
 * Checked before normalizing, which takes time quadratic in a run of combining marks: 60,000 of
 * them, which a request body can hold, blocked the event loop for seconds.
 */
const BEFORE_NFC = 4;

/**
 * A character with more marks on it than any script needs: UAX #15's stream-safe text format
 * allows 30 in a row, which no text in use reaches. Past it, marks stacked on one character are
 * drawn over the lines around it ("Zalgo" text, over the names and buttons shown beside a name),
 * and NFC, which sorts a run of marks by their classes, takes time quadratic in its length: a
 * notice's 65,000 marks of two classes stalled the event loop for over a second. Checked before
 * normalizing. Every character that normalization reorders (a non-starter) is a mark (`\p{M}`).
 */
const MARKS_PER_CHARACTER = 30;
const STACKED_MARKS = new RegExp(`\\p{M}{${MARKS_PER_CHARACTER + 1}}`, 'u');

/** The line breaks (LF, or CR LF) and tabs text of several lines may hold, which `UNSHOWABLE` refuses in a single line. */
const LINE_BREAK = /\r?\n|\t/g;

/**
 * Trimmed text of at most `max` characters once in Unicode NFC (the form it is stored in), with
 * no character bearing more marks than `MARKS_PER_CHARACTER`, at least one visible character (see
 * `INVISIBLE`), none of the characters that would show a person something other than what is
 * stored (`UNSHOWABLE`), and no hidden text (`hidesText`).
 * With `lines`, text of several lines, a notice say: line breaks and tabs (`LINE_BREAK`) are allowed in it.
 */
export const plainText = (max: number, { lines = false }: { lines?: boolean } = {}) =>
  z
    .string()
    .max(BEFORE_NFC * max, `must have at most ${max} characters`)
    .refine((value) => !STACKED_MARKS.test(value), `must not stack more than ${MARKS_PER_CHARACTER} marks on one character`)
    .transform((value) => value.trim().normalize('NFC'))
    .pipe(
      z
        .string()
        .min(1, 'must not be empty')
        .refine((value) => !INVISIBLE.test(value), 'must have a visible character')
        .max(max, `must have at most ${max} characters`)
        .refine(
          (value) => !UNSHOWABLE.test(lines ? value.replace(LINE_BREAK, '') : value),
          lines ? 'must not contain control characters, invisible spaces or bidi overrides' : 'must not contain control characters, line breaks, invisible spaces or bidi overrides',
        )
        .refine((value) => !hidesText(value), 'must not hide text in tag characters or stacked variation selectors'),
    );

/**
 * True when PostgreSQL can store the text as given in `text` and `jsonb`: it refuses U+0000, and
 * UTF-16 surrogates without their pair (JSON can carry both as escapes).
 */
export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes('\u0000');
}

/** The text as PostgreSQL can store it: what `isStorableText` refuses becomes U+FFFD. */
export function storableText(text: string): string {
  return text.toWellFormed().replaceAll('\u0000', '\uFFFD');
}

/**
 * True for an instant in the years 1 to 9999 in UTC, the range both databases store alike and
 * cursors keep to (src/shared/pagination.ts). The DateTime scalar also reads year 0 and offsets
 * that carry 9999 into the year 10000, where they part: PGlite refuses them (a masked
 * INTERNAL_SERVER_ERROR), node-postgres sends year 0 as 1 BC and stores 10000 as an instant the
 * scalar cannot read back.
 */
export function isStorableInstant(at: Date): boolean {
  const year = at.getUTCFullYear();
  return year >= 1 && year <= 9999;
}

export const STORABLE_INSTANT_MESSAGE = 'must be in the years 1 to 9999, in UTC';

/** An instant given as a DateTime that both databases store alike (`isStorableInstant`). */
export const storableInstant = () => z.date().refine(isStorableInstant, STORABLE_INSTANT_MESSAGE);
