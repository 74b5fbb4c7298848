import type { ForbiddenReason } from '../shared/errors.js';

interface SubjectAccess {
  readonly read: Set<string>;
  readonly denied: Map<string, ForbiddenReason>;
}

/**
 * What one request read and was refused of each user's profile, noted by the per-field decision
 * (and, as reads, by the fields listing a user's approvals, consents and connected agents), and
 * written as one `profile.read` event per user when the response is sent.
 */
export class AccessRecorder {
  readonly #subjects = new Map<string, SubjectAccess>();

  note(userId: string, field: string, denied?: ForbiddenReason): void {
    let access = this.#subjects.get(userId);
    if (!access) this.#subjects.set(userId, (access = { read: new Set(), denied: new Map() }));
    if (denied) access.denied.set(field, denied);
    else access.read.add(field);
  }

  /** Each user touched, with the fields read and denied (sorted) and the reasons for the denials. */
  *subjects(): Generator<{ userId: string; fieldsRead: string[]; fieldsDenied: string[]; reasons: ForbiddenReason[] }> {
    for (const [userId, { read, denied }] of this.#subjects) {
      yield { userId, fieldsRead: [...read].sort(), fieldsDenied: [...denied.keys()].sort(), reasons: [...new Set(denied.values())].sort() };
    }
  }
}
