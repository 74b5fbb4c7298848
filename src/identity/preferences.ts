import type { PreferencesJson } from '../db/database.js';

/** Preferences as GraphQL's `Preferences` shows them: each list present, empty where the customer has said nothing. */
export type ShownPreferences = PreferencesJson & Required<Pick<PreferencesJson, 'channels' | 'interests' | 'tags'>>;

/**
 * Stored preferences with every list GraphQL shows filled in, so the lists are read straight off
 * the object: a resolver per list would run for each of an audience page's 1,000 members.
 */
export function showPreferences(preferences: PreferencesJson): ShownPreferences {
  return { ...preferences, channels: preferences.channels ?? [], interests: preferences.interests ?? [], tags: preferences.tags ?? [] };
}
